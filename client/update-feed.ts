/**
 * Fans queue updates out to any number of async iterators, each seeing the updates published
 * after it started, until the feed ends (the request was granted or failed). Nothing is
 * buffered for iterators nobody created, and a slow reader keeps at most `capacity` updates.
 */
import { AsyncChannel } from "./async-channel.js";

export class UpdateFeed<T> {
  readonly #channels = new Set<AsyncChannel<T>>();
  #ended = false;

  constructor(private readonly capacity = 1000) {}

  publish(value: T): void {
    for (const channel of this.#channels) channel.push(value);
  }

  end(): void {
    this.#ended = true;
    for (const channel of this.#channels) channel.close();
    this.#channels.clear();
  }

  iterate(): AsyncIterableIterator<T> {
    const channel = new AsyncChannel<T>(this.capacity);
    if (this.#ended) channel.close();
    else this.#channels.add(channel);
    const iterator = channel[Symbol.asyncIterator]();
    return {
      next: () => iterator.next(),
      return: () => {
        this.#channels.delete(channel);
        return iterator.return?.() ?? Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }
}
