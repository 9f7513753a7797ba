import type { DealChange } from '../deal-change.ts';
import type { EffectServices } from '../effect-services.ts';
import { projectInsights } from './insights-projection.ts';

/** A read model fed by every committed deal change; it must be idempotent per (deal, version) itself. */
export type Projection = (change: DealChange, services: EffectServices) => Promise<void>;

/**
 * The read models every deal change is projected into, by name. Projections see every change, workflow-only writes
 * included; the side effects see only decisions.
 */
export const PROJECTIONS: Record<string, Projection> = {
  insights: async (change, services) => {
    await projectInsights(change, services);
  },
};
