// Structured-output semantic validation, as the guard loop does after its schema check: parse
// the model's JSON answer, resolve each rule's JSON Pointer and check it; report every issue.
function pointer(doc, path) {
  if (path === '') return doc;
  let node = doc;
  for (const raw of path.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !(key in node)) return undefined;
    node = node[key];
  }
  return node;
}

export function decide(input) {
  let doc;
  try {
    doc = JSON.parse(input.answer);
  } catch {
    return { valid: false, issues: [{ rule: 'json', message: 'not JSON' }] };
  }
  const issues = [];
  for (const rule of input.rules) {
    const value = pointer(doc, rule.path);
    if (rule.kind === 'number_gte') {
      if (typeof value !== 'number' || value < rule.min) {
        issues.push({ rule: rule.id, message: `${rule.path} below ${rule.min}` });
      }
    } else if (rule.kind === 'string_not_contains') {
      if (typeof value !== 'string' || value.toLowerCase().includes(rule.pattern)) {
        issues.push({ rule: rule.id, message: `${rule.path} contains ${rule.pattern}` });
      }
    } else if (rule.kind === 'each_prefix') {
      if (!Array.isArray(value)) {
        issues.push({ rule: rule.id, message: `${rule.path} is not a list` });
        continue;
      }
      for (let i = 0; i < value.length; i++) {
        const field = value[i]?.[rule.field];
        if (typeof field !== 'string' || !field.startsWith(rule.prefix)) {
          issues.push({ rule: rule.id, message: `${rule.path}/${i}/${rule.field}` });
        }
      }
    } else if (rule.kind === 'count_between') {
      const n = Array.isArray(value) ? value.length : -1;
      if (n < rule.min || n > rule.max) {
        issues.push({ rule: rule.id, message: `${rule.path} has ${n} items` });
      }
    }
  }
  return { valid: issues.length === 0, issues };
}
