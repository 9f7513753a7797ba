import { randomUUID } from 'node:crypto';
import type { SandboxAnswer } from '../../../infra/local/crm-sandbox.ts';
import { HubSpotSandbox, hubspotError } from '../../../infra/local/hubspot-sandbox.ts';
import { type ScriptedFailure, withFailureScripting } from './server.ts';

/** The HubSpot sandbox with failure scripting: scripted failures answer in HubSpot's error shapes. */
export class HubSpotStandIn extends withFailureScripting(HubSpotSandbox) {
  protected override failureAnswer(failure: ScriptedFailure): SandboxAnswer {
    switch (failure.status) {
      case 429:
        return {
          status: 429,
          headers: failure.retryAfter === undefined ? {} : { 'retry-after': failure.retryAfter },
          body: {
            status: 'error',
            message: 'You have reached your ten_secondly_rolling limit.',
            errorType: 'RATE_LIMIT',
            correlationId: randomUUID(),
            policyName: 'TEN_SECONDLY_ROLLING',
            category: 'RATE_LIMITS',
          },
        };
      case 401:
        return hubspotError(401, 'INVALID_AUTHENTICATION', 'The access token provided is invalid or expired.');
      case 400:
        return hubspotError(400, 'VALIDATION_ERROR', 'Property values were not valid');
      case 403:
        return hubspotError(403, 'MISSING_SCOPES', 'This app has not been granted all required scopes.');
      case 404:
        return hubspotError(404, 'OBJECT_NOT_FOUND', 'resource not found');
      default:
        return {
          ...hubspotError(failure.status, 'INTERNAL_ERROR', 'internal error'),
          headers: failure.retryAfter === undefined ? {} : { 'retry-after': failure.retryAfter },
        };
    }
  }
}
