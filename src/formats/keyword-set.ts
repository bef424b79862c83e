// Which of a fixed set of keywords a text holds, in one pass over it (Aho–Corasick, with the
// automaton's moves in one dense table). Secret scanning (secret-scan.ts) asks this of every text
// written: gitleaks' 244 keywords, each formerly looked up with its own `includes` (about 0.5 ms
// over 4 KiB of code) behind one alternation regex (30 µs over a text holding none). npm's
// Aho–Corasick packages build an object per state and an array per hit: 200 µs over the same text.
//
// Decisions:
// - Characters that appear in no keyword share one class, which leads back to the start; the
//   table is states × classes (1,281 × 43 for gitleaks), not states × 65,536.
// - Keywords are matched as given: callers lowercase both sides when case does not matter.

export interface KeywordSet {
  /** For each keyword (by its index in the list given), whether `text` holds it. */
  find(text: string): Uint8Array;
}

export function keywordSet(keywords: readonly string[]): KeywordSet {
  // Classes: 0 for every character in no keyword; 1.. for the others, by first appearance.
  const classes = new Map<number, number>();
  for (const word of keywords) {
    for (let i = 0; i < word.length; i++) {
      const c = word.charCodeAt(i);
      if (!classes.has(c)) classes.set(c, classes.size + 1);
    }
  }
  const width = classes.size + 1;
  const ascii = new Uint8Array(128);
  for (const [c, k] of classes) if (c < 128) ascii[c] = k;
  const classOf = (c: number) => (c < 128 ? ascii[c]! : (classes.get(c) ?? 0));

  // The trie, then failure links breadth-first, folding each state's moves into the table.
  const children = [new Map<number, number>()];
  const ends: number[][] = [[]];
  keywords.forEach((word, index) => {
    let state = 0;
    for (let i = 0; i < word.length; i++) {
      const k = classOf(word.charCodeAt(i));
      let next = children[state]!.get(k);
      if (next === undefined) {
        next = children.length;
        children.push(new Map<number, number>());
        ends.push([]);
        children[state]!.set(k, next);
      }
      state = next;
    }
    ends[state]!.push(index);
  });
  const moves = new Int32Array(children.length * width);
  const fail = new Int32Array(children.length);
  const queue: number[] = [];
  for (const [k, child] of children[0]!) {
    moves[k] = child;
    queue.push(child);
  }
  for (let head = 0; head < queue.length; head++) {
    const state = queue[head]!;
    // A state also ends every keyword its failure state ends (a suffix of what was read).
    ends[state]!.push(...ends[fail[state]!]!);
    for (let k = 0; k < width; k++) {
      const child = children[state]!.get(k);
      if (child === undefined) {
        moves[state * width + k] = moves[fail[state]! * width + k]!;
      } else {
        fail[child] = moves[fail[state]! * width + k]!;
        moves[state * width + k] = child;
        queue.push(child);
      }
    }
  }
  const ending = ends.map((e) => (e.length ? Int32Array.from(e) : undefined));

  return {
    find(text) {
      const held = new Uint8Array(keywords.length);
      let state = 0;
      for (let i = 0; i < text.length; i++) {
        state = moves[state * width + classOf(text.charCodeAt(i))]!;
        const found = ending[state];
        if (found) for (const index of found) held[index] = 1;
      }
      return held;
    },
  };
}
