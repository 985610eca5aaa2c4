/** LocalQueue: one holder at a time, request order, and no overtaking of an expected request. */
import { LocalQueue } from "../../client/local-queue.js";
import { CancelledError } from "../../client/errors.js";
import { sleep } from "./helpers.js";

describe("LocalQueue", () => {
  test("serves by sequence number, not by arrival", async () => {
    const queue = new LocalQueue();
    const order: number[] = [];
    const run = async (seq: number) => {
      const release = await queue.acquire(seq);
      order.push(seq);
      await sleep(2);
      release();
    };
    // Arrive out of order within one burst.
    await Promise.all([run(3), run(1), run(2)]);
    expect(order).toEqual([1, 2, 3]);
  });

  test("a later request waits for an earlier expected one", async () => {
    const queue = new LocalQueue();
    queue.expect(1);
    const order: number[] = [];
    const later = queue.acquire(2).then((release) => {
      order.push(2);
      release();
    });
    await sleep(20);
    expect(order).toEqual([]); // still held back by request 1
    const earlier = queue.acquire(1).then((release) => {
      order.push(1);
      release();
    });
    await Promise.all([earlier, later]);
    expect(order).toEqual([1, 2]);
  });

  test("unexpect lets later requests go", async () => {
    const queue = new LocalQueue();
    queue.expect(1);
    const later = queue.acquire(2);
    queue.unexpect(1); // request 1 reached the coordinator
    const release = await later;
    release();
  });

  test("an aborted waiter leaves the line and the release function is idempotent", async () => {
    const queue = new LocalQueue();
    const release1 = await queue.acquire(1);
    const controller = new AbortController();
    const positions: number[] = [];
    const second = queue.acquire(2, controller.signal, (s) => positions.push(s.position));
    const third = queue.acquire(3, undefined, (s) => positions.push(s.position * 10));
    await sleep(5);
    controller.abort(new CancelledError("aborted", "test"));
    await expect(second).rejects.toBeInstanceOf(CancelledError);
    release1();
    release1();
    const release3 = await third;
    expect(queue.busy).toBe(true);
    release3();
    expect(queue.waiting).toBe(0);
    expect(positions).toEqual([1, 20, 10]);
  });
});
