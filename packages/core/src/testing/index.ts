/**
 * @wardwright/core/testing — the sandbox conformance kit: the cases every `SandboxBackend` must
 * pass, as data and plain async checks, so any test runner can run them.
 */
export {};
