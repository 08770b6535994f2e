// One definition of these rules for every backend: the core's.
export { resolveLimits, sanitizeFailureMessage } from '@wardwright/core';
