// Preloaded (`node --import`) into the Portkey gateway's process: its start-server.js listens
// on every interface (`serve({ fetch, port })`, no hostname). The benchmark stays on loopback,
// so a listen call that names no host gets 127.0.0.1.
import net from 'node:net';

const listen = net.Server.prototype.listen;
/** @this {net.Server} @param {any[]} args */
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && (args.length === 1 || typeof args[1] !== 'string')) {
    args.splice(1, 0, '127.0.0.1');
  } else if (
    typeof args[0] === 'object' &&
    args[0] !== null &&
    'port' in args[0] &&
    args[0].host === undefined
  ) {
    args[0] = { ...args[0], host: '127.0.0.1' };
  }
  return listen.apply(this, /** @type {any} */ (args));
};
