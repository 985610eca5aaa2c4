import fc from "fast-check";
import { InvalidSlotError, MAX_VRAM_MB, VRAMSlot, gbToMb } from "../../client/index.js";
import { PriorityClass, Precision } from "../../gen/ts/cforch/v1/common_pb.js";

function fieldOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidSlotError);
    return (err as InvalidSlotError).field;
  }
  throw new Error("expected InvalidSlotError");
}

describe("VRAMSlot", () => {
  test("the seed example: 4.0 GB is 4096 MiB, normal priority", () => {
    const slot = new VRAMSlot({ service: "kiwi", taskType: "recipe_llm", vramGb: 4.0 });
    expect(slot.vramMb).toBe(4096);
    expect(slot.priority).toBe("normal");
    expect(slot.vramGb).toBe(4);
  });

  test("GB converts to MiB rounding up", () => {
    expect(gbToMb(0.5)).toBe(512);
    expect(gbToMb(0.1)).toBe(103); // 102.4
    expect(gbToMb(1.0001)).toBe(1025); // 1024.1024
    expect(gbToMb(1 / 1024)).toBe(1);
    expect(gbToMb(0.0001)).toBe(1);
    expect(new VRAMSlot({ service: "s", vramGb: 7.3 }).vramMb).toBe(7476); // 7475.2
  });

  test("rounding up never gives less than asked and at most 1 MiB more (property)", () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-6, max: 16384, noNaN: true }), (gb) => {
        const mb = gbToMb(gb);
        return Number.isInteger(mb) && mb >= gb * 1024 && mb - gb * 1024 < 1;
      }),
    );
  });

  test("vramMb is taken as is", () => {
    expect(new VRAMSlot({ service: "s", vramMb: 1 }).vramMb).toBe(1);
    expect(new VRAMSlot({ service: "s", vramMb: MAX_VRAM_MB }).vramMb).toBe(MAX_VRAM_MB);
  });

  test("exactly one of vramGb and vramMb", () => {
    expect(fieldOf(() => new VRAMSlot({ service: "s" }))).toBe("vramGb");
    expect(fieldOf(() => new VRAMSlot({ service: "s", vramGb: 1, vramMb: 1024 }))).toBe("vramMb");
  });

  test.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, 16 * 1024 + 1])(
    "vramGb %p is rejected",
    (vramGb) => {
      expect(fieldOf(() => new VRAMSlot({ service: "s", vramGb }))).toBe("vramGb");
    },
  );

  test.each([0, -5, 1.5, Number.NaN, MAX_VRAM_MB + 1])("vramMb %p is rejected", (vramMb) => {
    expect(fieldOf(() => new VRAMSlot({ service: "s", vramMb }))).toBe("vramMb");
  });

  test("service, taskType, priority, gpu, node and requires are checked", () => {
    expect(fieldOf(() => new VRAMSlot({ service: "", vramMb: 1 }))).toBe("service");
    expect(fieldOf(() => new VRAMSlot({ service: "a b", vramMb: 1 }))).toBe("service");
    expect(fieldOf(() => new VRAMSlot({ service: "x".repeat(65), vramMb: 1 }))).toBe("service");
    expect(fieldOf(() => new VRAMSlot({ service: "s", taskType: "a/b", vramMb: 1 }))).toBe(
      "taskType",
    );
    expect(
      fieldOf(() => new VRAMSlot({ service: "s", vramMb: 1, priority: "urgent" as never })),
    ).toBe("priority");
    expect(fieldOf(() => new VRAMSlot({ service: "s", vramMb: 1, gpu: "" }))).toBe("gpu");
    expect(fieldOf(() => new VRAMSlot({ service: "s", vramMb: 1, node: "n".repeat(129) }))).toBe(
      "node",
    );
    expect(
      fieldOf(() => new VRAMSlot({ service: "s", vramMb: 1, requires: ["fp64" as never] })),
    ).toBe("requires");
  });

  test("the error names the field in its message too", () => {
    expect(() => new VRAMSlot({ service: "s", vramGb: -2 })).toThrow(/vramGb/);
  });

  test("toProto carries every field in wire form", () => {
    const slot = new VRAMSlot({
      service: "peregrine",
      taskType: "vision:ocr",
      vramGb: 2.5,
      priority: "high",
      gpu: "local/0",
      node: "local",
      requires: ["bf16", "int4"],
    });
    const proto = slot.toProto();
    expect(proto.service).toBe("peregrine");
    expect(proto.taskType).toBe("vision:ocr");
    expect(proto.vramMb).toBe(2560n);
    expect(proto.priority).toBe(PriorityClass.HIGH);
    expect(proto.constraints?.gpuId).toBe("local/0");
    expect(proto.constraints?.node).toBe("local");
    expect(proto.constraints?.requires).toEqual([Precision.BF16, Precision.INT4]);
  });

  test("a slot is immutable", () => {
    const slot = new VRAMSlot({ service: "s", vramMb: 10 });
    expect(() => {
      (slot as { vramMb: number }).vramMb = 20;
    }).toThrow(TypeError);
  });
});
