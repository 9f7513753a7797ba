import type { CrmState } from '../core/stored-deal.ts';

/** Where the CRMs' web apps live, as configured: Pipedrive's company domain (else the deal's own, from its webhooks). */
export interface CrmWebBases {
  /** Pipedrive's company domain (`PIPEDRIVE_API_BASE_URL`, e.g. `https://acme.pipedrive.com`). */
  pipedrive?: string;
}

/** A link to a deal in the CRM it came from, with the CRM's name. */
export interface CrmLink {
  crm: string;
  href: string;
}

const HUBSPOT_APP = 'https://app.hubspot.com';

/** An origin (`https://…`) with any trailing slash removed; null when it is not an http(s) URL. */
function webBase(url: string | undefined): string | null {
  if (!url) return null;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return null;
    return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
  } catch {
    return null;
  }
}

/**
 * The deal's page in its CRM, when Stageflow knows where it lives: HubSpot
 * `https://app.hubspot.com/contacts/<portalId>/record/0-3/<dealId>` (0-3 is HubSpot's object type id of deals),
 * Pipedrive `<company domain>/deal/<id>` (the configured domain, else the one its webhooks named), Salesforce `<instance URL>/lightning/r/Opportunity/<Id>/view`; null when a
 * part is unknown.
 */
export function crmLink(dealId: string, crm: CrmState | undefined, bases: CrmWebBases): CrmLink | null {
  const id = encodeURIComponent(dealId);
  switch (crm?.source) {
    case 'hubspot':
      return crm.portalId && /^\d+$/.test(crm.portalId)
        ? { crm: 'HubSpot', href: `${HUBSPOT_APP}/contacts/${crm.portalId}/record/0-3/${id}` }
        : null;
    case 'pipedrive': {
      const base = webBase(bases.pipedrive) ?? webBase(crm.host ? `https://${crm.host}` : undefined);
      return base ? { crm: 'Pipedrive', href: `${base}/deal/${id}` } : null;
    }
    case 'salesforce': {
      const base = webBase(crm.instanceUrl);
      return base ? { crm: 'Salesforce', href: `${base}/lightning/r/Opportunity/${id}/view` } : null;
    }
    default:
      return null;
  }
}
