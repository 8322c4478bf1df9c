#!/usr/bin/env python3
"""Writes flowctl's man page (mdoc) from the command's own description.

    python3 scripts/manpage.py path/to/flowctl > flowctl.1

swift-argument-parser's `generate-manual` plugin (`swift package plugin generate-manual`) makes
the same kind of page, but it must build the package itself; this script reads the JSON that
any built binary prints with `--experimental-dump-help`, so `scripts/install.sh --from DIR` and
the tests need no SwiftPM. Standard library only.
"""
import datetime
import json
import os
import subprocess
import sys


def line_text(line):
    line = line.replace("\\", "\\e")
    return "\\&" + line if line.startswith((".", "'")) else line


def text(value):
    """mdoc text: backslashes escaped, no line starting a request, blank lines as paragraph
    breaks, indented lines (examples) kept as they are in a literal display."""
    out = []
    literal = False
    for raw in (value or "").split("\n"):
        indented = raw.startswith((" ", "\t")) and raw.strip()
        if indented and not literal:
            out.append(".Bd -literal -offset indent")
            literal = True
        elif not indented and literal:
            out.append(".Ed")
            literal = False
        if literal:
            out.append(line_text(raw.strip()))
        elif raw.strip():
            out.append(line_text(raw.strip()))
        elif out and out[-1] != ".Pp":
            out.append(".Pp")
    if literal:
        out.append(".Ed")
    while out and out[-1] == ".Pp":
        out.pop()
    return "\n".join(out)


def option_head(arg):
    names = sorted(arg.get("names") or [], key=lambda n: n["kind"] != "short")
    parts = []
    for n in names:
        parts.append("Fl " + ("-" + n["name"] if n["kind"] != "short" else n["name"]))
    head = " , ".join(parts) if parts else ""
    if arg["kind"] == "option":
        head += " Ar " + (arg.get("valueName") or "value")
    elif arg["kind"] == "positional":
        head = "Ar " + (arg.get("valueName") or "value")
    return head


def arguments(command, lines):
    args = [a for a in command.get("arguments") or [] if a.get("shouldDisplay", True)]
    if not args:
        return
    lines.append(".Bl -tag -width 6n")
    for arg in args:
        lines.append(".It " + option_head(arg))
        lines.append(text(arg.get("abstract")))
        if arg.get("discussion"):
            lines.append(text(arg["discussion"]))
        if arg.get("defaultValue") not in (None, ""):
            lines.append("Default: " + text(str(arg["defaultValue"])) + ".")
    lines.append(".El")


def synopsis(command):
    out = []
    for arg in command.get("arguments") or []:
        if not arg.get("shouldDisplay", True):
            continue
        head = option_head(arg)
        out.append((".Ar " + head[3:]) if arg["kind"] == "positional" and not arg.get("isOptional") else ".Op " + head)
    return out


def main():
    binary = sys.argv[1]
    info = json.loads(subprocess.run([binary, "--experimental-dump-help"], check=True, capture_output=True, text=True).stdout)
    root = info["command"]
    name = root["commandName"]
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", datetime.datetime.now(datetime.timezone.utc).timestamp()))
    date = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    lines = [
        '.\\" Made by scripts/manpage.py from `%s --experimental-dump-help`.' % name,
        ".Dd %s %d, %d" % (date.strftime("%B"), date.day, date.year),
        ".Dt %s 1" % name.upper(),
        ".Os",
        ".Sh NAME",
        ".Nm " + name,
        ".Nd " + text(root.get("abstract")),
        ".Sh SYNOPSIS",
        ".Nm",
        ".Ar subcommand",
        ".Op Ar options",
        ".Sh DESCRIPTION",
        text(root.get("discussion") or root.get("abstract")),
    ]
    arguments(root, lines)
    subs = [s for s in root.get("subcommands") or [] if s.get("shouldDisplay", True)]
    if subs:
        lines += [".Sh COMMANDS", ".Bl -tag -width 6n"]
        for sub in subs:
            lines.append(".It Ic " + sub["commandName"])
            lines.append(".Nm " + name + " " + sub["commandName"])
            lines += synopsis(sub)
            lines.append(".Pp")
            lines.append(text(sub.get("abstract")))
            if sub.get("discussion"):
                lines.append(".Pp")
                lines.append(text(sub["discussion"]))
            arguments(sub, lines)
        lines.append(".El")
    lines += [".Sh SEE ALSO", "The README of the flowctl repository; the JSON Schema of job files: ", ".Ql flowctl schema ."]
    print("\n".join(line for line in lines if line))


if __name__ == "__main__":
    main()
