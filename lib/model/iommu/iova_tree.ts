/**
 * The ordered set of allocated IOVA ranges: a red-black tree keyed by pfnLo, as iova.c keeps
 * `iovad->rbroot` (CLRS insert/delete with a sentinel), held in typed arrays with a free list
 * so a million live ranges cost ~40 MB and no object each. Ranges never overlap, so pfnHi is
 * ascending in key order too (used by `lowerBoundHi`). pfns are below 2^53 for every granule
 * of at least 2 KiB of a 64-bit IOVA space, so a Float64Array holds them exactly; the anchor's
 * 2^64 - 1 rounds to 2^64, still above every real pfn.
 *
 * @module
 */

/** The sentinel node (no node). */
export const NIL: number = 0;

/**
 * A red-black tree of disjoint pfn ranges; nodes are indexes into its arrays.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IovaTree, NIL } from "./iova_tree.ts";
 * const t = new IovaTree();
 * const a = t.insert(10, 19);
 * t.insert(40, 47);
 * assert.equal(t.find(15), a);
 * assert.equal(t.find(30), NIL);
 * assert.equal(t.lo[t.next(a)], 40);
 * t.checkInvariants();
 * ```
 */
export class IovaTree {
  /** First pfn of each node's range. */
  lo = new Float64Array(64);
  /** Last pfn of each node's range. */
  hi = new Float64Array(64);
  /** Left child of each node. */
  left = new Int32Array(64);
  /** Right child of each node. */
  right = new Int32Array(64);
  /** Parent of each node. */
  parent = new Int32Array(64);
  /** 1 for a red node. */
  red = new Uint8Array(64);
  /** The root node. */
  root: number = NIL;
  /** Number of nodes. */
  size = 0;
  /** Nodes stepped through by searches and walks (feeds costs; STYLE 35 counters). */
  visited = 0;
  #free: number[] = [];
  #next = 1; // node 0 is the sentinel

  #alloc(lo: number, hi: number): number {
    let n = this.#free.pop();
    if (n === undefined) {
      n = this.#next++;
      if (n >= this.lo.length) this.#grow();
    }
    this.lo[n] = lo;
    this.hi[n] = hi;
    this.left[n] = NIL;
    this.right[n] = NIL;
    this.parent[n] = NIL;
    this.red[n] = 1;
    return n;
  }

  #grow(): void {
    const cap = this.lo.length * 2;
    const f = (a: Float64Array) => {
      const b = new Float64Array(cap);
      b.set(a);
      return b;
    };
    const i = (a: Int32Array) => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    this.lo = f(this.lo);
    this.hi = f(this.hi);
    this.left = i(this.left);
    this.right = i(this.right);
    this.parent = i(this.parent);
    const r = new Uint8Array(cap);
    r.set(this.red);
    this.red = r;
  }

  /**
   * Rotate at `x`: its child on the `up` side takes its place (left rotation: the right child,
   * `up` = right, `down` = left; a right rotation swaps the two).
   */
  #rotate(x: number, toLeft: boolean): void {
    const up = toLeft ? this.right : this.left;
    const down = toLeft ? this.left : this.right;
    const y = up[x]!;
    up[x] = down[y]!;
    if (down[y] !== NIL) this.parent[down[y]!] = x;
    this.parent[y] = this.parent[x]!;
    const px = this.parent[x]!;
    if (px === NIL) this.root = y;
    else if (x === this.left[px]) this.left[px] = y;
    else this.right[px] = y;
    down[y] = x;
    this.parent[x] = y;
  }

  /**
   * Insert `[lo, hi]`; the caller guarantees it overlaps nothing.
   *
   * @param lo First pfn.
   * @param hi Last pfn.
   * @returns The new node.
   */
  insert(lo: number, hi: number): number {
    const z = this.#alloc(lo, hi);
    let y = NIL;
    let x = this.root;
    while (x !== NIL) {
      ++this.visited;
      y = x;
      x = lo < this.lo[x]! ? this.left[x]! : this.right[x]!;
    }
    this.parent[z] = y;
    if (y === NIL) this.root = z;
    else if (lo < this.lo[y]!) this.left[y] = z;
    else this.right[y] = z;
    this.#insertFixup(z);
    ++this.size;
    return z;
  }

  #insertFixup(z: number): void {
    const p = this.parent;
    while (this.red[p[z]!] === 1) {
      const zp = p[z]!;
      const zpp = p[zp]!;
      // The mirrored cases in one: `near` is the side of zp under zpp.
      const leftSide = zp === this.left[zpp];
      const far = leftSide ? this.right : this.left;
      const y = far[zpp]!;
      if (this.red[y] === 1) {
        this.red[zp] = 0;
        this.red[y] = 0;
        this.red[zpp] = 1;
        z = zpp;
      } else {
        if (z === far[zp]) {
          z = zp;
          this.#rotate(z, leftSide);
        }
        this.red[p[z]!] = 0;
        this.red[p[p[z]!]!] = 1;
        this.#rotate(p[p[z]!]!, !leftSide);
      }
    }
    this.red[this.root] = 0;
  }

  #transplant(u: number, v: number): void {
    const pu = this.parent[u]!;
    if (pu === NIL) this.root = v;
    else if (u === this.left[pu]) this.left[pu] = v;
    else this.right[pu] = v;
    this.parent[v] = pu; // the sentinel's parent is used by the fixup
  }

  #minimum(x: number): number {
    while (this.left[x] !== NIL) x = this.left[x]!;
    return x;
  }

  #maximum(x: number): number {
    while (this.right[x] !== NIL) x = this.right[x]!;
    return x;
  }

  /**
   * Remove a node (its index may be reused by a later insert).
   *
   * @param z The node.
   */
  remove(z: number): void {
    let y = z;
    let yRed = this.red[y]!;
    let x: number;
    if (this.left[z] === NIL) {
      x = this.right[z]!;
      this.#transplant(z, x);
    } else if (this.right[z] === NIL) {
      x = this.left[z]!;
      this.#transplant(z, x);
    } else {
      y = this.#minimum(this.right[z]!);
      yRed = this.red[y]!;
      x = this.right[y]!;
      if (this.parent[y] === z) this.parent[x] = y;
      else {
        this.#transplant(y, x);
        this.right[y] = this.right[z]!;
        this.parent[this.right[y]!] = y;
      }
      this.#transplant(z, y);
      this.left[y] = this.left[z]!;
      this.parent[this.left[y]!] = y;
      this.red[y] = this.red[z]!;
    }
    if (yRed === 0) this.#deleteFixup(x);
    this.red[NIL] = 0;
    this.parent[NIL] = NIL;
    this.#free.push(z);
    --this.size;
  }

  #deleteFixup(x: number): void {
    while (x !== this.root && this.red[x] === 0) {
      const px = this.parent[x]!;
      // The mirrored cases in one: `near` is x's side, the sibling w is on the far side.
      const leftSide = x === this.left[px];
      const near = leftSide ? this.left : this.right;
      const far = leftSide ? this.right : this.left;
      let w = far[px]!;
      if (this.red[w] === 1) {
        this.red[w] = 0;
        this.red[px] = 1;
        this.#rotate(px, leftSide);
        w = far[this.parent[x]!]!;
      }
      if (this.red[near[w]!] === 0 && this.red[far[w]!] === 0) {
        this.red[w] = 1;
        x = this.parent[x]!;
      } else {
        if (this.red[far[w]!] === 0) {
          this.red[near[w]!] = 0;
          this.red[w] = 1;
          this.#rotate(w, !leftSide);
          w = far[this.parent[x]!]!;
        }
        this.red[w] = this.red[this.parent[x]!]!;
        this.red[this.parent[x]!] = 0;
        this.red[far[w]!] = 0;
        this.#rotate(this.parent[x]!, leftSide);
        x = this.root;
      }
    }
    this.red[x] = 0;
  }

  /**
   * The node before `x` in key order (`rb_prev`), or NIL.
   *
   * @param x A node.
   * @returns Its neighbour.
   */
  prev(x: number): number {
    ++this.visited;
    if (this.left[x] !== NIL) return this.#maximum(this.left[x]!);
    let y = this.parent[x]!;
    while (y !== NIL && x === this.left[y]) {
      x = y;
      y = this.parent[y]!;
    }
    return y;
  }

  /**
   * The node after `x` in key order (`rb_next`), or NIL.
   *
   * @param x A node.
   * @returns Its neighbour.
   */
  next(x: number): number {
    if (this.right[x] !== NIL) return this.#minimum(this.right[x]!);
    let y = this.parent[x]!;
    while (y !== NIL && x === this.right[y]) {
      x = y;
      y = this.parent[y]!;
    }
    return y;
  }

  /**
   * The node whose range holds `pfn` (`find_iova`), or NIL.
   *
   * @param pfn A pfn.
   * @returns The node.
   */
  find(pfn: number): number {
    let x = this.root;
    while (x !== NIL) {
      ++this.visited;
      if (pfn < this.lo[x]!) x = this.left[x]!;
      else if (pfn > this.hi[x]!) x = this.right[x]!;
      else return x;
    }
    return NIL;
  }

  /**
   * The first node in key order with `hi >= limit`, or NIL.
   *
   * @param limit A pfn.
   * @returns The node.
   */
  lowerBoundHi(limit: number): number {
    let x = this.root;
    let best = NIL;
    while (x !== NIL) {
      ++this.visited;
      if (this.hi[x]! >= limit) {
        best = x;
        x = this.left[x]!;
      } else x = this.right[x]!;
    }
    return best;
  }

  /**
   * The first node in key order, or NIL.
   *
   * @returns The node.
   */
  first(): number {
    return this.root === NIL ? NIL : this.#minimum(this.root);
  }

  /**
   * Check the red-black and order invariants (tests use it).
   *
   * @throws {Error} "Invariant violated: ..." on a broken tree.
   */
  checkInvariants(): void {
    if (this.red[this.root] === 1) throw new Error("Invariant violated: red root");
    let count = 0;
    const walk = (x: number, min: number, max: number): number => {
      if (x === NIL) return 1;
      ++count;
      const lo = this.lo[x]!;
      if (lo < min || lo > max) throw new Error("Invariant violated: key order");
      if (this.red[x] === 1 && (this.red[this.left[x]!] === 1 || this.red[this.right[x]!] === 1)) {
        throw new Error("Invariant violated: red node with a red child");
      }
      if (this.left[x] !== NIL && this.parent[this.left[x]!] !== x) {
        throw new Error("Invariant violated: parent link");
      }
      if (this.right[x] !== NIL && this.parent[this.right[x]!] !== x) {
        throw new Error("Invariant violated: parent link");
      }
      const bl = walk(this.left[x]!, min, lo);
      const br = walk(this.right[x]!, lo, max);
      if (bl !== br) throw new Error("Invariant violated: black height");
      return bl + (this.red[x] === 1 ? 0 : 1);
    };
    walk(this.root, -Infinity, Infinity);
    if (count !== this.size) throw new Error("Invariant violated: size");
  }
}
