// Limit enforcement: a guest that never returns. Only a backend with a hard kill can stop it.
export function decide() {
  while (true) {}
}
