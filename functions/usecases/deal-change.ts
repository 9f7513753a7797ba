import type { StoredDeal } from '../adapters/deal-repository.ts';

/**
 * One committed change of a deal item, as the table's stream delivers it (old and new image): the input of every
 * side effect and read-model projection. `before` is null for a new deal.
 */
export interface DealChange {
  before: StoredDeal | null;
  after: StoredDeal;
}
