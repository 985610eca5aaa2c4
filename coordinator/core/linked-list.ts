/**
 * Minimal doubly-linked list with O(1) append and O(1) removal of a known node. The wait queue
 * needs removal from the middle (cancel, expiry) without shifting arrays, which would make every
 * cancel O(queue length).
 */
export interface ListNode<T> {
  readonly value: T;
  prev: ListNode<T> | null;
  next: ListNode<T> | null;
}

export class LinkedList<T> {
  head: ListNode<T> | null = null;
  tail: ListNode<T> | null = null;
  size = 0;

  append(value: T): ListNode<T> {
    const node: ListNode<T> = { value, prev: this.tail, next: null };
    if (this.tail) this.tail.next = node;
    else this.head = node;
    this.tail = node;
    this.size++;
    return node;
  }

  remove(node: ListNode<T>): void {
    if (node.prev) node.prev.next = node.next;
    else this.head = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.tail = node.prev;
    node.prev = null;
    node.next = null;
    this.size--;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let n = this.head; n; n = n.next) yield n.value;
  }
}
