#!/usr/bin/env python3
"""graphrun's layout rules, checked from the sources (python3, standard library only).

1. Layers: every folder of sources is a layer, and a file may include only
   files of its own layer and of the layers listed for it (LAYERS below), so
   every arrow points down. ops/ sees the op contract alone; runtime/ never
   includes models/ or tools/.
2. Loops: a module is a .c file with its .h; no two modules of runtime/
   include each other, directly or through others.
3. Sizes: no source file over 500 lines and no function over 80 lines,
   except those listed in EXCEPTIONS with the reason.

    python3 tools/check_layout.py [--stats]

Prints every violation and exits 1, or exits 0; --stats also prints the
counts (files, lines, the largest file and function, loops).
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# layer: (folder, the layers it may include besides itself); None: any
LAYERS = {
    "abi": ("include/graphrun", []),
    "ops": ("ops", ["abi"]),
    "optim": ("runtime/optim", ["abi"]),
    "schedule": ("runtime/schedule", ["abi"]),
    "base": ("runtime/base", ["abi"]),
    "dist": ("runtime/dist", []),
    "yaml": ("runtime/yaml", ["abi", "base"]),
    "host": ("runtime/host", ["abi", "base", "yaml", "ops", "optim", "schedule"]),
    "config": ("runtime/config", ["abi", "base", "yaml", "host", "optim", "schedule"]),
    "engine": ("runtime/engine", ["abi", "base", "yaml", "host", "optim", "schedule", "ops"]),
    "data": ("runtime/data", ["abi", "base", "host"]),
    "session": ("runtime/session", ["abi", "base", "yaml", "host", "config", "engine", "optim", "schedule", "data",
                                    "dist", "ops"]),
    "models": ("models", ["abi", "base", "yaml", "host", "config", "engine", "optim", "schedule", "data", "dist",
                          "session", "ops"]),
    "export": ("runtime/export", ["abi", "base", "yaml", "host", "config", "engine", "optim", "schedule", "data",
                                  "dist", "session", "ops"]),
    "tools": ("tools", None),
    "tests": ("tests", None),
    "plugins": ("plugins", ["abi"]),
}

MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80
# path, or path:function -> why it may be longer
EXCEPTIONS = {
}

SOURCE = re.compile(r"\.(c|h)$")
INCLUDE = re.compile(r'^\s*#\s*include\s+[<"]([^>"]+)[>"]', re.M)


def sources():
    out = []
    for top in ("include", "ops", "runtime", "models", "tools", "tests", "plugins"):
        for d, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if SOURCE.search(f):
                    out.append(os.path.relpath(os.path.join(d, f), ROOT))
    return sorted(out)


def layer_of(path):
    best = None
    for name, (folder, _) in LAYERS.items():
        if path.startswith(folder + "/") and (best is None or len(folder) > len(LAYERS[best][0])):
            best = name
    return best


def resolve(src, inc, known):
    """The repository file an #include names, or None (a system header)."""
    for base in (os.path.dirname(src), "include", ""):
        p = os.path.normpath(os.path.join(base, inc))
        if p in known:
            return p
    return None


def check_layers(files, includes):
    errors = []
    for src in files:
        me = layer_of(src)
        if me is None:
            errors.append("%s: in no layer" % src)
            continue
        allowed = LAYERS[me][1]
        for inc in includes[src]:
            other = layer_of(inc)
            if allowed is None or other == me or other in allowed:
                continue
            errors.append("%s (%s) includes %s (%s): %s may include only %s" %
                          (src, me, inc, other, me, ", ".join([me] + allowed)))
    return errors


def module(path):
    return os.path.splitext(path)[0]


def find_loops(files, includes):
    """Loops between modules of runtime/ (a .c and its .h are one module)."""
    graph = {}
    for src in files:
        if not src.startswith("runtime/"):
            continue
        m = module(src)
        graph.setdefault(m, set())
        for inc in includes[src]:
            if inc.startswith("runtime/") and module(inc) != m:
                graph[m].add(module(inc))
    loops, state, stack = [], {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                loops.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return loops


FUNC_START = re.compile(r"^(?!static\s+const\b)(?:[A-Za-z_][\w\s\*]*?)\b([A-Za-z_]\w*)\s*\([^;]*$")


def functions(path):
    """(name, first line, lines) of each function defined at file scope."""
    lines = open(os.path.join(ROOT, path), errors="replace").read().split("\n")
    out, i = [], 0
    while i < len(lines):
        m = FUNC_START.match(lines[i])
        if m and not lines[i].startswith(("#", " ", "\t", "}")):
            # the signature may continue; the body opens with '{' at the end of a line
            j = i
            while j < len(lines) and not lines[j].rstrip().endswith("{") and not lines[j].rstrip().endswith(";"):
                j += 1
            if j < len(lines) and lines[j].rstrip().endswith("{") and "=" not in lines[i].split("(")[0]:
                depth, k = 0, j
                while k < len(lines):
                    depth += lines[k].count("{") - lines[k].count("}")
                    if depth <= 0:
                        break
                    k += 1
                out.append((m.group(1), i + 1, k - i + 1))
                i = k + 1
                continue
        i += 1
    return out


def main():
    files = sources()
    known = set(files)
    includes = {}
    for src in files:
        text = open(os.path.join(ROOT, src), errors="replace").read()
        includes[src] = [p for p in (resolve(src, inc, known) for inc in INCLUDE.findall(text)) if p]
    errors = check_layers(files, includes)
    loops = find_loops(files, includes)
    for loop in loops:
        errors.append("include loop in runtime/: " + " -> ".join(loop))
    total, largest_file, largest_fn = 0, ("", 0), ("", 0)
    for src in files:
        n = open(os.path.join(ROOT, src), errors="replace").read().count("\n")
        total += n
        largest_file = max(largest_file, (src, n), key=lambda x: x[1])
        if n > MAX_FILE_LINES and src not in EXCEPTIONS:
            errors.append("%s: %d lines (at most %d)" % (src, n, MAX_FILE_LINES))
        if not src.endswith(".c"):
            continue
        for name, first, length in functions(src):
            largest_fn = max(largest_fn, ("%s:%d %s()" % (src, first, name), length), key=lambda x: x[1])
            if length > MAX_FUNCTION_LINES and "%s:%s" % (src, name) not in EXCEPTIONS:
                errors.append("%s:%d: function %s is %d lines (at most %d)" %
                              (src, first, name, length, MAX_FUNCTION_LINES))
    for e in errors:
        print(e)
    if "--stats" in sys.argv:
        print("files %d, lines %d, largest file %s (%d lines), largest function %s (%d lines), include loops %d" %
              (len(files), total, largest_file[0], largest_file[1], largest_fn[0], largest_fn[1], len(loops)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
