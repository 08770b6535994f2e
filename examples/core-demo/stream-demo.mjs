// Interim demo while the decision cores land: shows the configuration errors every core uses.
import { ConfigError, WardwrightError } from '@wardwright/core';

const error = new ConfigError('stream rules', [
  { path: '$.rules[0].contians', message: 'is not a known key', hint: 'did you mean `contains`?' },
]);
console.log(error.message);
console.log('recognised across copies:', WardwrightError.isInstance(error));
