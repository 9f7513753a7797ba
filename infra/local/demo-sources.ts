import { z } from 'zod';
import type { Fields, Outcome } from '../../functions/core/deal.ts';
import type { PipelineConfig } from '../../functions/core/pipeline-config.ts';
import { crmStageValue } from '../../functions/sources/crm-maps.ts';
import type { ApiClient } from './api-client.ts';
import { STORY_DEAL, STORY_PIPELINE } from './default-story.ts';
import { DemoError, type WebhookAnswer, WebhookAnswerSchema, waitFor, webhookAnswer } from './demo-answers.ts';
import type { HubSpotSandbox } from './hubspot-sandbox.ts';

/** Where the demo's deal comes from: a CRM sending generic webhooks, or the HubSpot sandbox sending HubSpot's. */

/** One CRM event of the story: the stage the rep moves the deal to and the fields recorded on the way. */
export interface Step {
  stage: string;
  fields: Fields;
  expected: Outcome;
  why: string;
}

function formattedAmount(): string {
  const { amount, currency } = STORY_DEAL.fields;
  return new Intl.NumberFormat('en-US', { style: 'currency', currency }).format(amount);
}

/** Where the deal lives: the CRM whose webhooks tell Stageflow about the rep's moves. */
export interface DealSource {
  dealId: string;
  /** What the reader is told about the source before the moves. */
  intro: string[];
  /** The rep records the step's fields and moves the deal; the answer to the webhook that reports the move. */
  move(step: Step): Promise<WebhookAnswer>;
  /** What Stageflow wrote back to the CRM about the decision just answered, once it arrived (none for generic). */
  writtenBack(answer: WebhookAnswer): Promise<string[]>;
}

/** A CRM that sends Stageflow's generic signed JSON webhook and hears nothing back. */
export function genericSource(client: ApiClient, run: string): DealSource {
  const dealId = `DEMO-${run}`;
  const { dealName, owner } = STORY_DEAL;
  let eventCount = 0;
  return {
    dealId,
    intro: [
      `Deal ${dealId} "${dealName}", owner ${owner.name} <${owner.email}>, amount ${formattedAmount()}`,
      '',
      'The CRM sends signed webhooks (POST /webhooks/generic):',
    ],
    async move({ stage, fields }) {
      eventCount++;
      const eventId = `demo-${run}-${eventCount}`;
      const response = await client.postGeneric({
        eventId,
        dealId,
        pipeline: STORY_PIPELINE,
        stage,
        dealName,
        owner,
        fields,
      });
      return webhookAnswer(response, '/webhooks/generic', WebhookAnswerSchema);
    },
    writtenBack: async () => [],
  };
}

/**
 * A HubSpot deal: the rep drags it in the HubSpot sandbox, HubSpot's signed webhooks v3 batch reports each move with
 * the properties filled in, and the sandbox receives Stageflow's write-back.
 */
export function hubspotSource(client: ApiClient, hubspot: HubSpotSandbox, config: PipelineConfig): DealSource {
  const dealId = String(Date.now());
  let eventId = Date.now() * 100;
  const dealstage = (stage: string) => {
    const value = crmStageValue(config, 'hubspot', stage);
    if (!value) throw new DemoError(`the ${STORY_PIPELINE} pipeline maps no HubSpot dealstage to ${stage}`);
    return value;
  };
  const property = (propertyName: string, propertyValue: unknown) => ({
    eventId: ++eventId,
    subscriptionId: 1,
    portalId: 62515,
    occurredAt: Date.now(),
    subscriptionType: 'deal.propertyChange',
    objectId: Number(dealId),
    propertyName,
    propertyValue: String(propertyValue),
    changeSource: 'CRM_UI',
    attemptNumber: 0,
  });
  let notesBefore = 0;
  return {
    dealId,
    intro: [
      `Deal ${dealId} "${STORY_DEAL.dealName}" in HubSpot, amount ${formattedAmount()}`,
      '',
      `The deal lives in HubSpot (a local stand-in at ${hubspot.url}); the rep drags it from stage to stage and`,
      'HubSpot sends signed webhooks (POST /webhooks/hubspot). The stand-in prints what Stageflow writes back:',
    ],
    async move(step) {
      const value = dealstage(step.stage);
      // The first move creates the deal in HubSpot, named; later ones are the rep dragging it.
      const created = hubspot.stageOf(dealId) === undefined;
      if (created) hubspot.addDeal(dealId, String(value.value));
      else hubspot.moveDeal(dealId, value);
      notesBefore = hubspot.notes(dealId).length;
      const events = [
        ...(created ? [property('dealname', STORY_DEAL.dealName)] : []),
        ...Object.entries(step.fields).map(([name, field]) => property(name, field)),
        property('dealstage', value.value),
      ];
      const batch = z.object({ results: z.array(WebhookAnswerSchema) });
      const answer = webhookAnswer(await client.postHubspot(events), '/webhooks/hubspot', batch);
      const last = answer.results.at(-1);
      if (!last) throw new DemoError('POST /webhooks/hubspot answered no result for the move');
      return last;
    },
    async writtenBack(answer) {
      if (answer.outcome !== 'rejected' && answer.outcome !== 'pending_approval') return [];
      return [await hubspotNote(hubspot, dealId, notesBefore)];
    },
  };
}

/** The note Stageflow added to the HubSpot deal after the first `notesBefore`, and the stage the deal shows. */
export async function hubspotNote(hubspot: HubSpotSandbox, dealId: string, notesBefore: number): Promise<string> {
  const note = await waitFor(
    async () => hubspot.notes(dealId)[notesBefore],
    `Stageflow's note on HubSpot deal ${dealId} (${hubspot.url})`,
  );
  const firstLine = note.split('<br>')[0] ?? '';
  return `HubSpot shows ${hubspot.stageOf(dealId)}, with Stageflow's note "${firstLine}"`;
}
