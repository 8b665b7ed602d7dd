// A port of rustc_ast_pretty's pp.rs: Oppen's pretty printer as rustc 1.96 runs it (margin
// 78, minimum space 60). `TokenStream::to_string` goes through it, so long streams wrap
// exactly where rustc wraps them. Sizes are UTF-8 byte lengths, as in Rust.
//
// Browser-safe: no Node APIs here.

import { utf8Length } from "./unicode.js";

type Breaks = "consistent" | "inconsistent";

interface BreakToken {
  t: "break";
  offset: number;
  blankSpace: number;
}
interface BeginToken {
  t: "begin";
  /** Block indent offset (rustc's IndentStyle::Block; Visual is never used for tokens). */
  offset: number;
  breaks: Breaks;
}
type PpToken = { t: "string"; s: string; len: number } | BreakToken | BeginToken | { t: "end" };

type PrintFrame = { fits: true } | { fits: false; indent: number; breaks: Breaks };

const SIZE_INFINITY = 0xffff;
const MARGIN = 78;
const MIN_SPACE = 60;

interface BufEntry {
  token: PpToken;
  size: number;
}

export function isHardbreak(t: PpToken | undefined): boolean {
  return t !== undefined && t.t === "break" && t.offset === 0 && t.blankSpace === SIZE_INFINITY;
}

export class PrettyPrinter {
  private out: string[] = [];
  private room = MARGIN;
  // The ring buffer: `buf` holds entries from absolute index `bufOffset`.
  private buf: BufEntry[] = [];
  private bufHead = 0;
  private bufOffset = 0;
  private leftTotal = 0;
  private rightTotal = 0;
  private scanStack: number[] = [];
  private scanHead = 0;
  private printStack: PrintFrame[] = [];
  private indent = 0;
  private pendingIndentation = 0;
  private lastPrinted: PpToken | undefined;

  // --- ring buffer helpers ---
  private bufLen(): number {
    return this.buf.length - this.bufHead;
  }
  private bufPush(e: BufEntry): number {
    const index = this.bufOffset + this.bufLen();
    this.buf.push(e);
    return index;
  }
  private bufClear(): void {
    // rustc's VecDeque::clear keeps the offset.
    this.buf = [];
    this.bufHead = 0;
  }
  private bufFirst(): BufEntry | undefined {
    return this.bufLen() > 0 ? this.buf[this.bufHead] : undefined;
  }
  private bufPopFirst(): BufEntry {
    const e = this.buf[this.bufHead++];
    this.bufOffset++;
    if (this.bufHead > 1024 && this.bufHead * 2 > this.buf.length) {
      this.buf = this.buf.slice(this.bufHead);
      this.bufHead = 0;
    }
    return e;
  }
  private bufLast(): BufEntry | undefined {
    return this.bufLen() > 0 ? this.buf[this.buf.length - 1] : undefined;
  }
  private bufAt(index: number): BufEntry {
    return this.buf[this.bufHead + (index - this.bufOffset)];
  }
  // --- scan stack (a deque) ---
  private scanEmpty(): boolean {
    return this.scanStack.length - this.scanHead === 0;
  }
  private scanFront(): number {
    return this.scanStack[this.scanHead];
  }
  private scanPopFront(): void {
    this.scanHead++;
    if (this.scanHead === this.scanStack.length) {
      this.scanStack = [];
      this.scanHead = 0;
    }
  }
  private scanBack(): number | undefined {
    return this.scanEmpty() ? undefined : this.scanStack[this.scanStack.length - 1];
  }
  private scanPopBack(): void {
    this.scanStack.pop();
    if (this.scanEmpty()) {
      this.scanStack = [];
      this.scanHead = 0;
    }
  }

  lastToken(): PpToken | undefined {
    return this.lastTokenStillBuffered() ?? this.lastPrinted;
  }
  lastTokenStillBuffered(): PpToken | undefined {
    return this.bufLast()?.token;
  }
  replaceLastTokenStillBuffered(token: PpToken): void {
    this.bufLast()!.token = token;
  }

  // --- convenience API (pp/convenience.rs) ---
  ibox(indent: number): void {
    this.scanBegin({ t: "begin", offset: indent, breaks: "inconsistent" });
  }
  cbox(indent: number): void {
    this.scanBegin({ t: "begin", offset: indent, breaks: "consistent" });
  }
  end(): void {
    this.scanEnd();
  }
  breakOffset(n: number, off: number): void {
    this.scanBreak({ t: "break", offset: off, blankSpace: n });
  }
  word(s: string): void {
    this.scanString(s);
  }
  space(): void {
    this.breakOffset(1, 0);
  }
  hardbreak(): void {
    this.breakOffset(SIZE_INFINITY, 0);
  }
  isBeginningOfLine(): boolean {
    const last = this.lastToken();
    return last === undefined ? true : isHardbreak(last);
  }
  /** State::break_offset_if_not_bol. */
  breakOffsetIfNotBol(n: number, off: number): void {
    if (!this.isBeginningOfLine()) this.breakOffset(n, off);
    else if (off !== 0) {
      const last = this.lastTokenStillBuffered();
      if (last && isHardbreak(last)) this.replaceLastTokenStillBuffered({ t: "break", offset: off, blankSpace: SIZE_INFINITY });
    }
  }
  eof(): string {
    if (!this.scanEmpty()) {
      this.checkStack(0);
      this.advanceLeft();
    }
    return this.out.join("");
  }

  // --- the algorithm (pp.rs) ---
  private scanBegin(token: BeginToken): void {
    if (this.scanEmpty()) {
      this.leftTotal = 1;
      this.rightTotal = 1;
      this.bufClear();
    }
    const right = this.bufPush({ token, size: -this.rightTotal });
    this.scanStack.push(right);
  }
  private scanEnd(): void {
    if (this.scanEmpty()) this.printEnd();
    else {
      const right = this.bufPush({ token: { t: "end" }, size: -1 });
      this.scanStack.push(right);
    }
  }
  private scanBreak(token: BreakToken): void {
    if (this.scanEmpty()) {
      this.leftTotal = 1;
      this.rightTotal = 1;
      this.bufClear();
    } else this.checkStack(0);
    const right = this.bufPush({ token, size: -this.rightTotal });
    this.scanStack.push(right);
    this.rightTotal += token.blankSpace;
  }
  private scanString(s: string): void {
    const len = utf8Length(s, 0, s.length);
    if (this.scanEmpty()) this.printString(s, len);
    else {
      this.bufPush({ token: { t: "string", s, len }, size: len });
      this.rightTotal += len;
      this.checkStream();
    }
  }
  private checkStream(): void {
    while (this.rightTotal - this.leftTotal > this.room) {
      if (this.scanFront() === this.bufOffset) {
        this.scanPopFront();
        this.bufFirst()!.size = SIZE_INFINITY;
      }
      this.advanceLeft();
      if (this.bufLen() === 0) break;
    }
  }
  private advanceLeft(): void {
    while (this.bufFirst()!.size >= 0) {
      const left = this.bufPopFirst();
      const tok = left.token;
      switch (tok.t) {
        case "string":
          this.leftTotal += tok.len;
          this.printString(tok.s, tok.len);
          break;
        case "break":
          this.leftTotal += tok.blankSpace;
          this.printBreak(tok, left.size);
          break;
        case "begin":
          this.printBegin(tok, left.size);
          break;
        case "end":
          this.printEnd();
          break;
      }
      this.lastPrinted = tok;
      if (this.bufLen() === 0) break;
    }
  }
  private checkStack(depth: number): void {
    for (;;) {
      const index = this.scanBack();
      if (index === undefined) return;
      const entry = this.bufAt(index);
      if (entry.token.t === "begin") {
        if (depth === 0) return;
        this.scanPopBack();
        entry.size += this.rightTotal;
        depth--;
      } else if (entry.token.t === "end") {
        this.scanPopBack();
        entry.size = 1;
        depth++;
      } else {
        this.scanPopBack();
        entry.size += this.rightTotal;
        if (depth === 0) return;
      }
    }
  }
  private getTop(): PrintFrame {
    return this.printStack[this.printStack.length - 1] ?? { fits: false, indent: 0, breaks: "inconsistent" };
  }
  private printBegin(token: BeginToken, size: number): void {
    if (size > this.room) {
      this.printStack.push({ fits: false, indent: this.indent, breaks: token.breaks });
      this.indent = this.indent + token.offset;
      if (this.indent < 0) throw new Error("pretty printer: negative indent");
    } else this.printStack.push({ fits: true });
  }
  private printEnd(): void {
    const f = this.printStack.pop()!;
    if (!f.fits) this.indent = f.indent;
  }
  private printBreak(token: BreakToken, size: number): void {
    const top = this.getTop();
    const fits = top.fits ? true : top.breaks === "consistent" ? false : size <= this.room;
    if (fits) {
      this.pendingIndentation += token.blankSpace;
      this.room -= token.blankSpace;
    } else {
      this.out.push("\n");
      const indent = this.indent + token.offset;
      this.pendingIndentation = indent;
      this.room = Math.max(MARGIN - indent, MIN_SPACE);
    }
  }
  private printString(s: string, len: number): void {
    if (this.pendingIndentation > 0) this.out.push(" ".repeat(this.pendingIndentation));
    this.pendingIndentation = 0;
    this.out.push(s);
    this.room -= len;
  }
}
