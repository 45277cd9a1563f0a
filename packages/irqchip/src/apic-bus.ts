/**
 * The APIC bus: the system-bus messages between the local APICs, the I/O APIC and MSI-capable
 * devices (Intel SDM Vol. 3 §11.6 "Issuing Interprocessor Interrupts", §11.11 "Message
 * Signalled Interrupts", §11.12.10 x2APIC destinations).
 *
 * {@link ApicBusHub} holds the local APICs of a machine. It is the I/O APIC's {@link ApicBus}
 * (8-bit, xAPIC-format destinations, 0xFF the broadcast), the platform's {@link MsiSink}, and
 * carries the local APICs' IPIs (xAPIC or x2APIC format, by the sender's mode). EOIs of
 * level-triggered vectors come back through {@link ApicBusHub.onEoi} listeners, where a board
 * connects `IoApic.eoi`.
 *
 * Routing (SDM §11.6.2): a physical destination selects the APIC with that APIC ID; a logical
 * one every APIC whose logical destination matches (xAPIC flat or cluster model by the DFR,
 * x2APIC cluster model by the LDR); the broadcast selects all. Lowest-priority messages (and
 * fixed MSIs with the redirection hint set) go to the one APIC among those selected that is
 * enabled and has the lowest processor priority (PPR), ties going to the lowest APIC ID; a
 * globally disabled APIC takes no messages. Everything is synchronous and allocation-free.
 */
import { DeviceConfigurationError, type MsiSink } from '@hvkit/platform';
import { type ApicBus } from './ioapic.js';
import { routeMessage, type LocalApic } from './lapic.js';

/** MSI address (SDM §11.11.1 Figure 11-24) and data (§11.11.2 Figure 11-25) fields. */
export const Msi = {
  /** Address bits 31:20 are 0xFEE. */
  ADDRESS_PREFIX: 0xfee,
  /** Destination ID, address bits 19:12. */
  DEST_SHIFT: 12,
  /** Redirection hint, address bit 3. */
  REDIRECTION_HINT: 0x8,
  /** Destination mode, address bit 2: 1 = logical. */
  DEST_LOGICAL: 0x4,
  /** Vector, data bits 7:0. */
  VECTOR: 0xff,
  /** Delivery mode, data bits 10:8. */
  DELIVERY_MODE: 0x700,
  DELIVERY_MODE_SHIFT: 8,
  /** Level, data bit 14: 1 = assert (level-triggered messages only). */
  LEVEL_ASSERT: 0x4000,
  /** Trigger mode, data bit 15: 1 = level. */
  TRIGGER_LEVEL: 0x8000,
} as const;

/** Called with the vector of each EOI a local APIC broadcasts. */
export type EoiListener = (vector: number) => void;

export class ApicBusHub implements ApicBus, MsiSink {
  readonly name: string;
  private readonly attached: LocalApic[] = [];
  private readonly eoiListeners: EoiListener[] = [];

  constructor(name = 'apic-bus') {
    this.name = name;
  }

  /** The attached local APICs, in attach order. */
  get apics(): readonly LocalApic[] {
    return this.attached;
  }

  /** Puts `lapic` on the bus (and sets its `bus`). Its initial APIC ID must be unique. */
  attach(lapic: LocalApic): void {
    for (const other of this.attached) {
      if (other === lapic) throw new DeviceConfigurationError(this.name, `${lapic.name} is already attached`);
      if (other.initialId === lapic.initialId) {
        throw new DeviceConfigurationError(this.name, `${lapic.name} has APIC ID ${String(lapic.initialId)}, as ${other.name} does`);
      }
    }
    this.attached.push(lapic);
    lapic.bus = this;
  }

  /** Adds a listener for broadcast EOIs (connect `IoApic.eoi` here). */
  onEoi(listener: EoiListener): void {
    this.eoiListeners.push(listener);
  }

  /** A local APIC's EOI for a level-triggered vector (SDM §11.8.5): tells every listener. */
  broadcastEoi(vector: number): void {
    const listeners = this.eoiListeners;
    for (let i = 0; i < listeners.length; i++) listeners[i]?.(vector);
  }

  /**
   * An I/O APIC message (xAPIC format): returns whether any APIC accepted it. See
   * {@link ApicBus.deliver}.
   */
  deliver(dest: number, destMode: number, deliveryMode: number, vector: number, level: boolean, trigger: number): boolean {
    return routeMessage(this.attached, null, 0, dest & 0xff, destMode & 1, deliveryMode & 7, vector & 0xff, level, trigger & 1, false);
  }

  /**
   * An MSI write (SDM §11.11): address 0xFEExxxxx with the destination ID in bits 19:12, the
   * redirection hint in bit 3 and the destination mode in bit 2; data with the vector in bits
   * 7:0, the delivery mode in 10:8, the level in 14 and the trigger mode in 15. Writes outside
   * the 0xFEE prefix, reserved delivery modes (011, 110) and level-triggered de-asserts carry
   * no interrupt and are dropped.
   */
  deliverMsi(address: number, data: number, requesterId: number): void {
    void requesterId;
    if (address >>> 20 !== Msi.ADDRESS_PREFIX) return;
    const mode = (data & Msi.DELIVERY_MODE) >>> Msi.DELIVERY_MODE_SHIFT;
    if (mode === 3 || mode === 6) return;
    const trigger = data & Msi.TRIGGER_LEVEL ? 1 : 0;
    const level = (data & Msi.LEVEL_ASSERT) !== 0;
    if (trigger && !level) return;
    routeMessage(
      this.attached,
      null,
      0,
      (address >>> Msi.DEST_SHIFT) & 0xff,
      address & Msi.DEST_LOGICAL ? 1 : 0,
      mode,
      data & Msi.VECTOR,
      true,
      trigger,
      false,
      (address & Msi.REDIRECTION_HINT) !== 0,
    );
  }
}
