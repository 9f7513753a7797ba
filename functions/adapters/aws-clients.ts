import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SESClient } from '@aws-sdk/client-ses';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ENV, optionalEnv } from './environment.ts';

/**
 * The AWS clients, created on first use and reused across invocations. Locally the endpoint variables point them at
 * the emulators; in the cloud they are unset and the SDK's defaults apply.
 */

let documentClient: DynamoDBDocumentClient | undefined;
let sesClient: SESClient | undefined;
let sfnClient: SFNClient | undefined;

function endpointOptions(variable: string) {
  const endpoint = optionalEnv(variable);
  return endpoint ? { endpoint } : {};
}

export function dynamoDb(): DynamoDBDocumentClient {
  documentClient ??= DynamoDBDocumentClient.from(new DynamoDBClient(endpointOptions(ENV.dynamoDbEndpoint)), {
    // Every object stored is plain data; the SDK takes one with an own `constructor` key (a CRM field of that name)
    // for a class instance unless told to store objects as maps.
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: true },
  });
  return documentClient;
}

export function ses(): SESClient {
  sesClient ??= new SESClient(endpointOptions(ENV.sesEndpoint));
  return sesClient;
}

export function stepFunctions(): SFNClient {
  sfnClient ??= new SFNClient(endpointOptions(ENV.stepFunctionsEndpoint));
  return sfnClient;
}
