import { ArnFormat, Stack } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { ConfigurationSet, SuppressionReasons } from 'aws-cdk-lib/aws-ses';
import { Construct } from 'constructs';

/** Properties of mail sending. */
export interface MailSendingProps {
  /** The SES identity (domain or address) mail is sent as; it must be verified in the account. */
  readonly identity: string;
  /** The From address; the only one the functions may send from. */
  readonly mailFrom: string;
  /** An existing configuration set to send through. @default one created here */
  readonly configurationSetName?: string;
}

/**
 * Sending email through SES as one identity, from one address, through one configuration set: the permission it
 * grants names exactly those, so a function can send nothing else.
 */
export class MailSending extends Construct {
  readonly configurationSetName: string;
  private readonly props: MailSendingProps;

  constructor(scope: Construct, id: string, props: MailSendingProps) {
    super(scope, id);
    this.props = props;
    this.configurationSetName =
      props.configurationSetName ??
      new ConfigurationSet(this, 'ConfigurationSet', {
        reputationMetrics: true,
        suppressionReasons: SuppressionReasons.BOUNCES_AND_COMPLAINTS,
      }).configurationSetName;
  }

  /** Lets `grantee` call `ses:SendEmail` as the identity, from `mailFrom`, through the configuration set. */
  grantSend(grantee: IGrantable): void {
    const arn = (resource: string, resourceName: string) =>
      Stack.of(this).formatArn({ service: 'ses', resource, resourceName, arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['ses:SendEmail'],
        resources: [arn('identity', this.props.identity), arn('configuration-set', this.configurationSetName)],
        conditions: { StringEquals: { 'ses:FromAddress': this.props.mailFrom } },
      }),
    );
  }
}
