/** A terminal progress bar on stderr (one line, redrawn on a TTY; plain lines otherwise). */
export class Progress {
  private readonly t0 = Date.now();
  private readonly tty = process.stderr.isTTY;
  constructor(
    private readonly total: number,
    private readonly label = "",
  ) {}

  tick(done: number, note = ""): void {
    const frac = this.total ? done / this.total : 1;
    const width = 30;
    const bar = "#".repeat(Math.round(frac * width)).padEnd(width, ".");
    const el = (Date.now() - this.t0) / 1000;
    const eta = done ? (el / done) * (this.total - done) : 0;
    const line = `${this.label}[${bar}] ${done}/${this.total} ${el.toFixed(1)}s eta ${eta.toFixed(1)}s ${note}`;
    if (this.tty) process.stderr.write(`\r${line.padEnd(100)}${done === this.total ? "\n" : ""}`);
    else process.stderr.write(`${line}\n`);
  }
}
