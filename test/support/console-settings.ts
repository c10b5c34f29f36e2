/** A `console` context as an operator writes it, for the tests of the deployment (infra, permission proof). */
import type { ConsoleSettings } from '../../infra/lib/console-settings';

export const OIDC_CONSOLE: ConsoleSettings = {
  domainName: 'console.pipeline.example.com',
  certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789',
  auth: {
    type: 'oidc',
    issuer: 'https://login.example.com',
    authorizationEndpoint: 'https://login.example.com/oauth2/authorize',
    tokenEndpoint: 'https://login.example.com/oauth2/token',
    userInfoEndpoint: 'https://login.example.com/oauth2/userinfo',
    clientId: 'file-pipeline-console',
    clientSecretName: 'file-pipeline/console-oidc',
  },
  temporalUiUrl: 'https://cloud.temporal.io',
};
