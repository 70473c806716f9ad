/**
 * @module Legacy `sipws.cfg` (SIPWS): a file holding one command-line string, e.g.
 * `-u 5060 -p 8080 -r 8082 key1`. It owns splitting that text into arguments (shell-like
 * quotes, `#` comment lines, newlines as spaces) and locating each argument's line so errors
 * read `sipws.cfg:LINE: -u/--udpport: ...`. Flag meaning stays in flags.ts; no file I/O here.
 */

import { type FlagSpec, type ParsedFlags, parseFlags, UsageError } from "./flags.ts";
import { ConfigError } from "./toml.ts";

export interface CfgToken {
  text: string;
  line: number;
}

/** Splits command-line text into arguments with the line each starts on. */
export function tokenizeCommandLine(text: string, file = "sipws.cfg"): CfgToken[] {
  const tokens: CfgToken[] = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "\n") {
      line++;
      i++;
      continue;
    }
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "#") {
      // A comment runs to the end of its line (not part of SIPWS, harmless to allow).
      while (i < text.length && text[i] !== "\n") i++;
      continue;
    }
    const startLine = line;
    let word = "";
    while (i < text.length && !/\s/.test(text[i])) {
      const ch = text[i];
      if (ch === '"' || ch === "'") {
        const close = text.indexOf(ch, i + 1);
        if (close < 0) throw new ConfigError(file, startLine, undefined, `unclosed ${ch} quote`);
        const inner = text.slice(i + 1, close);
        word += ch === '"' ? inner.replace(/\\(["\\])/g, "$1") : inner;
        line += inner.split("\n").length - 1;
        i = close + 1;
      } else {
        word += ch;
        i++;
      }
    }
    tokens.push({ text: word, line: startLine });
  }
  return tokens;
}

/** The line of the first argument that spells `f` (`-u`, `-u5060`, `--udpport=...`). */
function lineOfFlag(tokens: CfgToken[], f: FlagSpec): number | undefined {
  for (const t of tokens) {
    if (t.text === `--${f.long}` || t.text.startsWith(`--${f.long}=`)) return t.line;
    if (f.short && /^-[^-]/.test(t.text) && t.text.slice(1).includes(f.short)) return t.line;
  }
  return undefined;
}

/** Parses a `sipws.cfg` text into flags; `--config` inside it is refused. */
export function parseLegacyCfg(text: string, file: string): ParsedFlags {
  const tokens = tokenizeCommandLine(text, file);
  let parsed: ParsedFlags;
  try {
    parsed = parseFlags(
      tokens.map((t) => t.text),
      (f) => ({ file, line: lineOfFlag(tokens, f) }),
    );
  } catch (e) {
    if (e instanceof UsageError) {
      const m = /'(-[^' ]+)/.exec(e.message);
      const tok = m ? tokens.find((t) => t.text.startsWith(m[1])) : undefined;
      throw new ConfigError(file, tok?.line ?? tokens[0]?.line, m?.[1], e.message);
    }
    throw e;
  }
  if (parsed.meta.configFile !== undefined) {
    const tok = tokens.find((t) => t.text.startsWith("--config"));
    throw new ConfigError(file, tok?.line, "--config", "not allowed inside sipws.cfg");
  }
  return parsed;
}
