// The measuring loop is the CLI's (`@wardwright/cli/measure`, packages/cli/src/commands/
// bench-measure.ts), shared with `wardwright bench` so both measure the same way.
export * as measure from '@wardwright/cli/measure';
