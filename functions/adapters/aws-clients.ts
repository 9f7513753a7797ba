import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ENV, optionalEnv } from './environment.ts';

/**
 * The AWS clients, created on first use and reused across invocations. Locally the endpoint variables point them at
 * the emulators; in the cloud they are unset and the SDK's defaults apply.
 */

let baseDynamoDbClient: DynamoDBClient | undefined;
let documentClient: DynamoDBDocumentClient | undefined;
let counterClient: DynamoDBDocumentClient | undefined;
let sesClient: SESv2Client | undefined;
let sfnClient: SFNClient | undefined;

function endpointOptions(variable: string) {
  const endpoint = optionalEnv(variable);
  return endpoint ? { endpoint } : {};
}

function baseDynamoDb(): DynamoDBClient {
  baseDynamoDbClient ??= new DynamoDBClient(endpointOptions(ENV.dynamoDbEndpoint));
  return baseDynamoDbClient;
}

// Every object stored is plain data; the SDK takes one with an own `constructor` key (a CRM field of that name) for a
// class instance unless told to store objects as maps.
const MARSHALL_OPTIONS = { removeUndefinedValues: true, convertClassInstanceToMap: true };

export function dynamoDb(): DynamoDBDocumentClient {
  documentClient ??= DynamoDBDocumentClient.from(baseDynamoDb(), { marshallOptions: MARSHALL_OPTIONS });
  return documentClient;
}

/**
 * The table for read-model counters: DynamoDB adds them up exactly as decimals, and a sum past 2^53 is read as the
 * nearest double instead of failing the read (a total shown, never a total lost).
 */
export function dynamoDbCounters(): DynamoDBDocumentClient {
  counterClient ??= DynamoDBDocumentClient.from(baseDynamoDb(), {
    marshallOptions: MARSHALL_OPTIONS,
    unmarshallOptions: { wrapNumbers: (text: string) => Number(text) },
  });
  return counterClient;
}

export function ses(): SESv2Client {
  sesClient ??= new SESv2Client(endpointOptions(ENV.sesEndpoint));
  return sesClient;
}

export function stepFunctions(): SFNClient {
  sfnClient ??= new SFNClient(endpointOptions(ENV.stepFunctionsEndpoint));
  return sfnClient;
}
