import { describe, expect, it } from 'vitest';
import { loadPipelineConfig } from '../../functions/adapters/config-files.ts';
import { dealAt, stackUrls } from '../support/api.ts';

async function getJson(path: string) {
  const response = await fetch(`${stackUrls().api}${path}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('read API', () => {
  it('answers /health with exactly {"status":"ok"} once the stack is up', async () => {
    expect(await getJson('/health')).toEqual({ status: 200, body: { status: 'ok' } });
  });

  it('serves the stage guidance of the default pipeline, in order', async () => {
    const { status, body } = await getJson('/pipelines/default/stages');
    expect(status).toBe(200);
    const stages = body.stages as { key: string; name: string; definition: string; goals: string[] }[];
    const configured = loadPipelineConfig('stage-config/default.yaml').config.stages.map((s) => s.key);
    expect(stages.map((s) => s.key)).toEqual(configured);
    expect(stages[4]).toMatchObject({
      name: 'Deliver/Finalize',
      goals: expect.arrayContaining(['Finance and Legal validation']),
    });
    for (const stage of stages) {
      expect(stage).toHaveProperty('actions');
      expect(stage).toHaveProperty('exitCriteria');
      expect(stage.definition.length).toBeGreaterThan(10);
    }
    expect((await getJson('/pipelines/nope/stages')).status).toBe(404);
  });

  it('answers 404 for an unknown deal, with a code and a sentence', async () => {
    const { status, body } = await getJson('/deals/never-seen?pipeline=default');
    expect(status).toBe(404);
    expect(body).toMatchObject({ error: { code: 'NOT_FOUND', message: expect.stringContaining('never-seen') } });
  });

  it('lists the deals of a stage page by page until nextToken is null', async () => {
    const created = [await dealAt('negotiate'), await dealAt('negotiate'), await dealAt('negotiate')];
    const seen: string[] = [];
    let nextToken: string | null = null;
    let pages = 0;
    do {
      const query = new URLSearchParams({ pipeline: 'default', stage: 'negotiate', limit: '2' });
      if (nextToken) query.set('nextToken', nextToken);
      const { status, body } = await getJson(`/deals?${query}`);
      expect(status).toBe(200);
      const deals = body.deals as { dealId: string; stage: string }[];
      expect(deals.length).toBeLessThanOrEqual(2);
      for (const deal of deals) expect(deal.stage).toBe('negotiate');
      seen.push(...deals.map((d) => d.dealId));
      nextToken = body.nextToken as string | null;
      pages++;
    } while (nextToken && pages < 100);
    expect(seen).toEqual(expect.arrayContaining(created));
    expect(new Set(seen).size).toBe(seen.length);
    expect(pages).toBeGreaterThanOrEqual(2);
  });

  it('refuses an unknown stage, a bad limit and a forged nextToken with 400', async () => {
    for (const query of ['stage=prospecting', 'stage=identify&limit=0', 'stage=identify&nextToken=%%%']) {
      const { status, body } = await getJson(`/deals?pipeline=default&${query}`);
      expect(status).toBe(400);
      expect(body).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
    }
  });
});
