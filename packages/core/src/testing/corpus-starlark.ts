/**
 * Starlark twins of the semantics corpus: the same input must give the same expected output.
 * Each twin does what its JavaScript policy does with Starlark's means (no exceptions, no
 * regular expressions, no recursion by default, dicts in insertion order, `json.encode` with
 * sorted keys), so a difference in output is a difference in the backend, not in the policy.
 * Policies without a twin are listed, with the reason, in docs/sandboxes/conformance.md.
 */
export const STARLARK_TWINS: Readonly<Record<string, string>> = Object.freeze({
  'classify-numbers': `def decide(input):
    above = 0
    flagged = []
    for i, v in enumerate(input["values"]):
        if v > input["threshold"]:
            above += 1
            flagged.append(i)
    return {"above": above, "below": len(input["values"]) - above, "flagged": flagged}
`,
  arithmetic: `INF = float("inf")

def finite(x):
    # What JSON.stringify does with NaN and the infinities.
    if x != x or x == INF or x == -INF:
        return None
    return x

def rem(x, y):
    # JavaScript's % truncates toward zero; Starlark's floors.
    return x - y * int(x / y)

def sqrt(x):
    r = float(x)
    for _ in range(60):
        r = (r + x / r) / 2
    return r

def decide(input):
    a = input["a"]
    b = input["b"]
    return {
        "sum": a + b, "diff": a - b, "product": a * b, "quotient": a / b, "mod": a % b,
        "neg_mod": rem(-a, b), "pow": a * a * a, "trunc": int(a / b), "floor": -a // b,
        "ceil": -(-a // b), "float": 0.1 + 0.2, "rounded": int(2.675 * 100 + 0.5) / 100,
        "half": int((-2.5 + 0.5) // 1), "neg_zero": -0, "max_safe": float(9007199254740991) + 2,
        "tiny": 5e-324, "huge": 1.7976931348623157e308, "nan": finite(float("nan")),
        "inf": finite(a * INF), "sqrt": sqrt(3), "min": min(a, b, -1), "max": finite(-INF),
        "bits": [a & b, a | b, a ^ b, ~a, a << 3, -a >> 1, (-a & 0xffffffff) >> 28],
    }
`,
  'string-ops': `def decide(input):
    s = input["text"]
    t = s.strip()
    return {
        "trimmed": t, "upper": t.upper(), "lower": s.lower().strip(),
        "padded": ("000" + "7")[-3:] + "|" + ("ab" + "....")[:4],
        "words": t.split(), "joined": "-".join(t.split(" ")),
        "slice": t[-5:], "sub": t[2:6], "index": s.find("fox"),
        "last": s.rfind("o"), "includes": "lazy" in s, "starts": t.startswith("The"),
        "replaced": s.replace("o", "0").strip(), "repeated": "ab" * 3, "at": t[-1],
        "template": "%d chars, %d o's" % (len(t), s.count("o")),
        "char_codes": "AZaz09".codepoint_ords(), "compare": ["b" < "a", "B" < "a", "10" < "9"],
    }
`,
  'array-ops': `def decide(input):
    xs = input["xs"]
    copy = list(xs)
    removed = copy[1:3]
    copy = copy[:1] + ["a", "b", "c"] + copy[3:]
    right = ""
    for x in reversed(xs):
        right += str(x)
    nested = [[1, [2]], [3, [4, [5]]]]
    flat = []
    for a in nested:
        for b in a:
            if type(b) == "list":
                for c in b:
                    flat.append(c)
            else:
                flat.append(b)
    bigger = [x for x in xs if x > 4]
    smaller = [x for x in xs if x < 4]
    return {
        "doubled": [x * 2 for x in xs], "evens": [x for x in xs if x % 2 == 0],
        "total": sum_of(xs), "right": right, "flat": flat,
        "flat_map": [y for x in xs[:3] for y in (x, -x)],
        "found": bigger[0], "found_index": [i for i, x in enumerate(xs) if x > 4][0],
        "last": smaller[-1], "some": any([x > 8 for x in xs]), "every": all([x > 0 for x in xs]),
        "has": 5 in xs, "from": [i * i for i in range(4)], "filled": ["z"] * 3,
        "reversed": list(reversed(xs)), "concat": xs + [10] + [11], "index": xs.index(9),
        "at": xs[-2], "spliced": copy, "removed": removed, "holes": [1, None, 3],
        "empty_slots": [None] * 2, "keys": len(range(len(xs))),
        "entries": [[i, c] for i, c in enumerate(["p", "q"])],
        "joined": "+".join([str(x) if x != None else "" for x in [1, None, None, "x"]]),
    }

def sum_of(xs):
    total = 0
    for x in xs:
        total += x
    return total
`,
  'object-ops': `def decide(input):
    o = {"2": "two", "10": "ten", "b": 1, "a": 2}
    o.update(input["extra"])
    rest = {k: v for k, v in o.items() if k != "a"}
    merged = dict(o, b = 3)
    merged.pop("a")
    return {
        "keys": list(o.keys()), "values": list(o.values()),
        "entries": [list(kv) for kv in {"x": 1, "y": [2]}.items()],
        "from_entries": dict([("k", 1), ("k", 2), ("j", 3)]), "a": o["a"],
        "missing": o.get("missing", "dflt"), "rest": rest, "merged": merged,
        "has": ["a" in o, hasattr(o, "keys"), "keys" in o],
        "json_keys": "{" + ",".join([json.encode(k) + ":" + json.encode(v) for k, v in o.items()]) + "}",
        "frozen": type(FROZEN) == "dict", "computed": {"k" + str(1): True, str(2 + 3): "five"},
    }

FROZEN = {"q": 1}
`,
  sorting: `def decide(input):
    people = input["people"]
    return {
        "numbers": sorted(input["numbers"]),
        "default_order": sorted(input["numbers"], key = str),
        "strings": sorted(["banana", "Apple", "cherry", "apple", "Banana", "éclair", "zebra"]),
        "by_age": [p["name"] for p in sorted(people, key = lambda p: p["age"])],
        "by_age_desc_then_name": [p["name"] for p in sorted(people, key = lambda p: (-p["age"], p["name"]))],
    }
`,
  'nested-data': `def decide(input):
    paths = []
    leaves = 0
    depth = 0
    # Depth-first without recursion: a stack of (node, path, depth), children pushed reversed.
    stack = [(input, "$", 0)]
    for _ in range(10000):
        if not stack:
            break
        node, path, d = stack.pop()
        depth = max(depth, d)
        if type(node) == "dict":
            for key in reversed(list(node.keys())):
                stack.append((node[key], path + "." + key, d + 1))
        elif type(node) == "list":
            for i in reversed(range(len(node))):
                stack.append((node[i], path + "[" + str(i) + "]", d + 1))
        else:
            leaves += 1
            if type(node) in ("int", "float"):
                paths.append(path)
    return {"leaves": leaves, "depth": depth, "number_paths": paths}
`,
  'default-params': `def greet(name = "anon", punct = "!", times = 1, *rest):
    text = (str(name) + punct) * times
    return text + (" +" + str(len(rest)) if rest else "")

def decide(input):
    user = input.get("user") or {}
    city = (user.get("address") or {}).get("city")
    nobody = input.get("nobody")
    count = input.get("count")
    return {
        "plain": greet(), "named": greet("ann"), "opts": greet("bo", times = 2),
        "nulls": greet(json.encode(None), punct = "?"), "rest": greet("anon", "!", 1, 1, 2, 3),
        "chained": city if city != None else "unknown",
        "missing": nobody.get("name") if nobody != None else "none",
        "zero": count if count != None else 5, "or": count or 5, "index": input["list"][1],
    }
`,
  closures: `def counter(start):
    cell = [start]
    def next():
        cell[0] += 1
        return cell[0]
    return struct(next = next, peek = lambda: cell[0])

def memo(fn):
    cache = {}
    misses = [0]
    def wrapped(x):
        if x not in cache:
            misses[0] += 1
            cache[x] = fn(x)
        return cache[x]
    return struct(call = wrapped, misses = lambda: misses[0])

def compose(*fns):
    def composed(x):
        for f in reversed(fns):
            x = f(x)
        return x
    return composed

def decide(input):
    a = counter(10)
    b = counter(input["start"])
    a.next()
    a.next()
    b.next()
    square = memo(lambda x: x * x)
    results = [square.call(x) for x in [3, 4, 3, 3, 5]]
    fns = [lambda i = i: i for i in range(3)]
    return {
        "a": a.peek(), "b": b.peek(), "results": results, "misses": square.misses(),
        "composed": compose(lambda x: x + 1, lambda x: x * 10)(input["start"]),
        "loop_capture": [f() for f in fns],
    }
`,
  classes: `COUNT = {"n": 0}

def fixed2(x):
    cents = int(x * 100 + 0.5)
    return "%d.%s" % (cents // 100, ("0" + str(cents % 100))[-2:])

def shape(state, kind, w, h):
    state["n"] += 1
    return struct(kind = kind, id = state["n"], w = w, h = h)

def describe(s):
    text = "%s#%d %s" % ("rect" if s.kind == "Rect" else "square", s.id, fixed2(s.w * s.h))
    return text.upper() if s.kind == "Square" else text

def as_json(s):
    if s.kind == "Square":
        return {"square": s.w}
    return {"name": "rect", "w": s.w, "h": s.h}

def decide(input):
    state = dict(COUNT)
    shapes = [
        shape(state, "Rect", s[0], s[1]) if type(s) == "list" else shape(state, "Square", s, s)
        for s in input["sizes"]
    ]
    return {
        "described": [describe(s) for s in shapes], "ids": [s.id for s in shapes],
        "count": state["n"], "kinds": [[True, s.kind == "Square", s.kind] for s in shapes],
        "json": [as_json(s) for s in shapes], "has_private": list(as_json(shapes[0]).keys()),
    }
`,
  'map-set': `def decide(input):
    counts = {}
    for w in input["words"]:
        counts[w] = counts.get(w, 0) + 1
    before = dict(counts)
    seen = {w: True for w in input["words"]}
    obj_key = ("object",)
    by_object = {obj_key: "found"}
    weak = {obj_key: 1}
    a = [1, 2, 3]
    b = [2, 3, 4]
    nan = float("nan")
    deleted = counts.pop("a", None) != None and "a" not in counts
    return {
        "counts": before, "unique": list(seen.keys()), "size": len(seen),
        "object_key": by_object[obj_key], "other_key": by_object.get(("other",)),
        "weak": weak[obj_key], "intersection": [x for x in a if x in b],
        "union": list({x: 1 for x in a + b}.keys()), "nan_key": {str(nan): "nan"}.get(str(nan)),
        "deleted": deleted, "order": list(counts.keys()), "map_json": json.encode(struct()),
    }
`,
  'try-catch': `# Starlark has no exceptions: errors are values, and fail() ends the call.
def risky(x):
    if x < 0:
        return struct(error = struct(code = "E_NEG", message = "negative: %d" % x, name = "PolicyError"))
    if x == 0:
        return struct(error = "zero")
    if x > 100:
        return struct(error = struct(type_error = True))
    r = float(x)
    for _ in range(60):
        r = (r + x / r) / 2
    return struct(ok = r)

def decide(input):
    log = []
    results = []
    for x in input["values"]:
        log.append("try %d" % x)
        r = risky(x)
        if hasattr(r, "ok"):
            results.append({"ok": r.ok})
        elif type(r.error) == "string":
            results.append({"thrown": r.error})
        elif hasattr(r.error, "type_error"):
            results.append({"type_error": True, "is_error": True})
        else:
            results.append({"code": r.error.code, "message": r.error.message, "name": r.error.name})
        log.append("finally %d" % x)
    inner = risky(-1)
    rethrown = "wrapped <- " + inner.error.code if hasattr(inner, "error") else None
    return {"results": results, "log": len(log), "rethrown": rethrown}
`,
  'several-entries-score': `WEIGHTS = {"pii": 5, "secret": 8, "profanity": 2}

def score(input):
    total = 0
    for sig in input["signals"]:
        total += WEIGHTS.get(sig, 1)
    return total

def label(n):
    return "high" if n >= 10 else "medium" if n >= 5 else "low"

def decide(input):
    s = score(input)
    return {"score": s, "label": label(s), "helper_count": len([score, label])}
`,
  'history-classifier': String.raw`WORD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
SECRETS = ["api_key", "api-key", "apikey", "password"]

def has_word(text, word):
    # A case-insensitive whole-word search: what /\b(api[_-]?key|password)\b/i does.
    lower = text.lower()
    start = lower.find(word)
    for _ in range(len(lower) + 1):
        if start < 0:
            return False
        end = start + len(word)
        before = start == 0 or lower[start - 1] not in WORD
        after = end == len(lower) or lower[end] not in WORD
        if before and after:
            return True
        start = lower.find(word, start + 1)
    return False

def decide(input):
    now = input["now_ms"]
    recent = [e for e in input["history"] if now - e["created_at_ms"] <= input["window_ms"]]
    by_kind = {}
    for e in recent:
        by_kind[e["kind"]] = by_kind.get(e["kind"], 0) + 1
    tools = [e["key"] for e in recent if e["kind"] == "tool_call"]
    longest = 0
    run = 0
    for i, t in enumerate(tools):
        run = run + 1 if i > 0 and t == tools[i - 1] else 1
        longest = max(longest, run)
    secrets = [e["sequence"] for e in recent if any([has_word(e["text"], w) for w in SECRETS])]
    level = "critical" if secrets else "warning" if longest >= 3 else "info"
    return {
        "considered": len(recent), "by_kind": by_kind, "longest_tool_run": longest,
        "secret_sequences": secrets, "level": level,
    }
`,
  'ttsr-window-scan': String.raw`# No regular expressions in Starlark: a small matcher for the patterns the rules use
# (literal characters, \s, [a-z0-9] classes, and the + and {n} quantifiers), greedy without
# backtracking, case-insensitive.
ALNUM = "0123456789abcdefghijklmnopqrstuvwxyz"

def tokens(pattern):
    out = []
    i = 0
    for _ in range(len(pattern)):
        if i >= len(pattern):
            break
        c = pattern[i]
        if c == "\\":
            item = {"s": " \t\n\r"}.get(pattern[i + 1], pattern[i + 1])
            i += 2
        elif c == "[":
            end = pattern.index("]", i)
            body = pattern[i + 1:end]
            item = ""
            j = 0
            for _ in range(len(body)):
                if j >= len(body):
                    break
                if j + 2 < len(body) and body[j + 1] == "-":
                    item += ALNUM[ALNUM.index(body[j]):ALNUM.index(body[j + 2]) + 1]
                    j += 3
                else:
                    item += body[j]
                    j += 1
            i = end + 1
        else:
            item = c
            i += 1
        lo, hi = 1, 1
        if i < len(pattern) and pattern[i] == "+":
            lo, hi = 1, 1000000
            i += 1
        elif i < len(pattern) and pattern[i] == "{":
            end = pattern.index("}", i)
            lo = int(pattern[i + 1:end])
            hi = lo
            i = end + 1
        out.append((item, lo, hi))
    return out

def match_at(toks, text, start):
    pos = start
    for chars, lo, hi in toks:
        n = 0
        for _ in range(hi):
            if pos + n < len(text) and text[pos + n] in chars:
                n += 1
            else:
                break
        if n < lo:
            return -1
        pos += n
    return pos

def search(toks, text):
    lower = text.lower()
    for start in range(len(lower)):
        end = match_at(toks, lower, start)
        if end >= 0:
            return (start, end)
    return None

def decide(input):
    patterns = [(r["id"], tokens(r["pattern"])) for r in input["rules"]]
    window = ""
    offset = 0
    for i, chunk in enumerate(input["chunks"]):
        window += chunk
        if len(window) > input["window_chars"]:
            cut = len(window) - input["window_chars"]
            offset += cut
            window = window[cut:]
        for id, toks in patterns:
            m = search(toks, window)
            if m != None:
                return {"triggered": id, "chunk": i, "start": offset + m[0], "end": offset + m[1], "text": window[m[0]:m[1]]}
    return {"triggered": None, "scanned": offset + len(window)}
`,
  'structured-output-validator': `def decide(input):
    errors = []
    doc = json.decode(input["output"])
    total = 0
    for it in doc["items"]:
        total += it["qty"] * it["unit_cents"]
    if total != doc["total_cents"]:
        shown = int(total) if total == int(total) else total
        errors.append({"path": "$.total_cents", "message": "expected %s, got %s" % (shown, doc["total_cents"])})
    for i, it in enumerate(doc["items"]):
        if it["sku"] not in ["book", "pen", "bag"]:
            errors.append({"path": "$.items[%d].sku" % i, "message": "unknown sku " + it["sku"]})
        if type(it["qty"]) != "int" or it["qty"] < 1:
            errors.append({"path": "$.items[%d].qty" % i, "message": "must be a positive integer"})
    if not (doc["ship_after"] < doc["ship_before"]):
        errors.append({"path": "$.ship_before", "message": "must be after ship_after"})
    country = doc["country"]
    if not (len(country) == 2 and all([c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for c in country.elems()])):
        errors.append({"path": "$.country", "message": "two capital letters"})
    return {"valid": len(errors) == 0, "errors": errors}
`,
  'actions-block': `BANNED = ["rm -rf", "drop table"]

def decide(input):
    text = input["last_user_message"].lower()
    hits = [b for b in BANNED if b in text]
    if not hits:
        return {"actions": []}
    return {"actions": [{"action": "block", "reason": "banned phrase: " + hits[0], "message": "blocked by policy"}]}
`,
  'actions-route': `def decide(input):
    actions = []
    if input["estimated_prompt_tokens"] > 8000:
        actions.append({"action": "restrict_routes", "allowed_targets": ["large/ctx"]})
    if input["caller"]["tenant_id"] == "acme":
        actions.append({"action": "alert", "severity": "warning", "message": "acme request", "idempotency_key": "acme-%d" % input["now_ms"]})
    actions.append({"action": "annotate", "message": "tokens=%d" % input["estimated_prompt_tokens"]})
    return {"actions": actions}
`,
  'actions-none': `def decide(input):
    tool = any([m["role"] == "tool" for m in input["messages"]])
    return {"actions": [{"action": "annotate", "message": "tool"}] if tool else []}
`,
  'json-output-rules': `# Starlark's output rules: tuples become arrays, structs objects, None null; -0.0 is 0.
def decide(input):
    return {
        "kept": 1, "nan": None, "inf": None, "list": (None, None, None, -0.0),
        "nested": struct(deep = "via toJSON"), "boxed": (3, "s", False),
    }
`,
  'iterators-generators': `def decide(input):
    evens = list(range(0, input["n"], 2))
    it = list(range(0, 3))
    steps = [{"value": v, "done": False} for v in it] + [{"done": True}]
    custom = [c for c in range(1, 5)]
    pairs = [k + str(v) for k, v in {"x": 1, "y": 2}.items()]
    labelled = 0
    stop = False
    for i in range(5):
        if stop:
            break
        for j in range(5):
            if j > i:
                break
            if i == 4:
                stop = True
                break
            labelled += 1
    switched = []
    for x in [1, 2, 3, 9]:
        if x == 1:
            switched.append("one")
        if x in (1, 2):
            switched.append("two")
        elif x == 3:
            switched.append("three")
        else:
            switched.append("other")
    return {"evens": evens, "steps": steps, "custom": custom, "pairs": pairs, "labelled": labelled, "switched": switched}
`,
  recursion: `# Recursion is off by default in Starlark: the same results, computed iteratively.
def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a

def permutations(xs):
    perms = [[]]
    for x in xs:
        perms = [p[:i] + [x] + p[i:] for p in perms for i in range(len(p) + 1)]
    return sorted(["".join(p) for p in perms])

def flatten(tree):
    out = []
    stack = [tree]
    for _ in range(10000):
        if not stack:
            break
        node = stack.pop()
        out.append(node["name"])
        stack.extend(reversed(node.get("children", [])))
    return out

def decide(input):
    return {"fib": fib(input["n"]), "perms": permutations(["a", "b", "c"]), "tree": flatten(input["tree"])}
`,
  'group-and-rank': `def decide(input):
    groups = {}
    for r in input["rows"]:
        g = groups.setdefault(r["team"], {"team": r["team"], "total": 0, "n": 0, "best": None})
        g["total"] += r["points"]
        g["n"] += 1
        if g["best"] == None or r["points"] > g["best"]["points"]:
            g["best"] = {"name": r["name"], "points": r["points"]}
    ranked = [dict(g, mean = int(g["total"] / g["n"] * 100 + 0.5) / 100) for g in groups.values()]
    ranked = sorted(ranked, key = lambda g: (-g["total"], g["team"]))
    return {"ranked": ranked, "teams": len(ranked)}
`,
  'time-as-input': `def decide(input):
    buckets = {}
    for t in input["events_ms"]:
        age = (input["now_ms"] - t) // 60000
        if age < 0 or age >= input["minutes"]:
            continue
        buckets[age] = buckets.get(age, 0) + 1
    per_minute = [buckets.get(i, 0) for i in range(input["minutes"])]
    return {"per_minute": per_minute, "burst": any([n >= input["burst"] for n in per_minute])}
`,
});

// several-entries-decide runs the same policy as several-entries-score, through decide.
export const STARLARK_TWIN_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  'several-entries-decide': 'several-entries-score',
});
