// Open-loop load at a fixed rate: request i is due at t0 + i / rate whatever happened to the
// earlier ones, over a keep-alive pool of up to `connections` sockets. Latency runs from the
// moment a request was DUE to the last byte of its answer, so time spent waiting for a free
// socket counts (no coordinated omission). autocannon's `overallRate` is not used for this: it
// sends each connection's quota for the second in one burst at the start of the second.
import http from 'node:http';

/**
 * @param {{ url: string, requests: { path: string, headers: Record<string, string>, body: string }[], rate: number, duration_s: number, connections: number, timeout_ms?: number }} o
 * @returns {Promise<{ latencies: number[], ok: number, non2xx: number, errors: number, timeouts: number, elapsed_s: number }>}
 */
export async function paced(o) {
  const target = new URL(o.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections, scheduling: 'fifo' });
  const timeout = o.timeout_ms ?? 10_000;
  const total = Math.max(1, Math.round(o.rate * o.duration_s));
  const interval = 1000 / o.rate;
  /** @type {number[]} */
  const latencies = [];
  const counts = { ok: 0, non2xx: 0, errors: 0, timeouts: 0 };
  /** @type {Promise<void>[]} */
  const pending = [];

  /** @param {number} due @param {number} i */
  const fire = (due, i) =>
    new Promise((resolve) => {
      const r = o.requests[i % o.requests.length];
      if (r === undefined) return resolve(undefined);
      let timedOut = false;
      const req = http.request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path: r.path,
          method: 'POST',
          headers: { ...r.headers, 'content-length': Buffer.byteLength(r.body) },
          timeout,
        },
        (res) => {
          res.on('data', () => undefined);
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              counts.ok++;
              latencies.push(performance.now() - due);
            } else counts.non2xx++;
            resolve(undefined);
          });
          res.on('error', () => {
            counts.errors++;
            resolve(undefined);
          });
        },
      );
      req.on('timeout', () => {
        timedOut = true;
        counts.timeouts++;
        req.destroy();
      });
      req.on('error', () => {
        if (!timedOut) counts.errors++;
        resolve(undefined);
      });
      req.end(r.body);
    });

  const t0 = performance.now();
  await new Promise((resolve) => {
    let sent = 0;
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - t0) / interval) + 1);
      for (; sent < due; sent++) pending.push(fire(t0 + sent * interval, sent));
      if (sent < total) setTimeout(tick, Math.max(0, t0 + sent * interval - performance.now()));
      else resolve(undefined);
    };
    tick();
  });
  await Promise.all(pending);
  const elapsed_s = (performance.now() - t0) / 1000;
  agent.destroy();
  return { latencies, ...counts, elapsed_s };
}
