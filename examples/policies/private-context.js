// Private-context routing: a request marked private may only be served by models that run on
// our own hardware (`local/…` targets). A request is private when
//   - a message carries a `classification:` header of `confidential` or `private`,
//   - the newest user message starts with `[private]`, or
//   - the caller's tenant handles regulated data.
// An unknown classification level throws: the rule fails closed, so a typo never sends a
// confidential prompt to the cloud.
//
// The engine calls decide(input) with a JSON summary of the request (see
// docs/engine/artifact.md, "Script rules") and applies the actions it returns.

const LOCAL_TARGETS = ['local/llama-3.1-8b', 'local/qwen2.5-32b'];
const PRIVATE_TENANTS = ['acme-health', 'acme-legal'];
const LEVELS = { public: false, internal: false, confidential: true, private: true };

function classification(messages) {
  for (const message of messages) {
    const header = /^classification:\s*(\S+)\s*$/im.exec(message.content);
    if (header === null) continue;
    const level = header[1].toLowerCase();
    if (!Object.hasOwn(LEVELS, level)) {
      throw new Error(`unknown classification level "${level}"`);
    }
    return level;
  }
  return null;
}

export function decide(input) {
  const level = classification(input.request.messages);
  const reasons = [];
  if (level !== null && LEVELS[level]) reasons.push(`classification ${level}`);
  if (/^\s*\[private\]/i.test(input.last_user_message)) reasons.push('[private] marker');
  if (PRIVATE_TENANTS.includes(input.caller.tenant_id)) {
    reasons.push(`tenant ${input.caller.tenant_id}`);
  }
  if (reasons.length === 0) return { actions: [] };
  return {
    actions: [
      { action: 'restrict_routes', allowed_targets: LOCAL_TARGETS },
      { action: 'annotate', message: `private context (${reasons.join(', ')}): local models only` },
    ],
  };
}
