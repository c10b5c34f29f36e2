/**
 * The `console` context of the CDK app: the operator's console is deployed only with it, behind a load balancer
 * that authenticates every request (infra/lib/operator-console.ts). infra/README.md documents each field.
 */
import { z } from 'zod';

const https = z.url({ protocol: /^https$/ });

/** How the load balancer authenticates each request: an OpenID Connect provider, or a Cognito user pool. */
const authSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('oidc'),
    issuer: https,
    authorizationEndpoint: https,
    tokenEndpoint: https,
    userInfoEndpoint: https,
    clientId: z.string().min(1),
    /** Name of a Secrets Manager secret (created by you) holding the client secret as plain text. */
    clientSecretName: z.string().min(1),
    scope: z.string().min(1).optional(),
  }),
  z.object({
    type: z.literal('cognito'),
    userPoolArn: z.string().regex(/^arn:aws[\w-]*:cognito-idp:[\w-]+:\d{12}:userpool\/[\w-]+$/),
    userPoolClientId: z.string().min(1),
    /** The user pool's domain prefix (`PREFIX.auth.REGION.amazoncognito.com`). */
    userPoolDomain: z.string().min(1),
  }),
]);

/** The `console` context: without it, the stack has no console. infra/README.md documents each field. */
const consoleSchema = z.object({
  /** Its DNS name: the certificate's, and the origin its forms and the input bucket's CORS rule accept. */
  domainName: z.string().regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/),
  /** An ACM certificate of `domainName`, in the stack's region. */
  certificateArn: z.string().regex(/^arn:aws[\w-]*:acm:[\w-]+:\d{12}:certificate\/[\w-]+$/),
  auth: authSchema,
  /** Who may reach the load balancer at all, before authenticating. */
  allowedCidrs: z.array(z.cidrv4()).min(1).default(['0.0.0.0/0']),
  /** A load balancer in the private subnets, for a network reached over VPN or Direct Connect. */
  internal: z.boolean().default(false),
  /** The Temporal UI the file pages link to, such as https://cloud.temporal.io. */
  temporalUiUrl: https.optional(),
});

export type ConsoleSettings = z.input<typeof consoleSchema>;
export type ResolvedConsole = z.output<typeof consoleSchema>;

/**
 * The console's settings from `raw` (an object from cdk.json, or its JSON text from `-c console=…`), or
 * undefined when there is none: then no console is deployed.
 * @throws Error naming each invalid field.
 */
export function parseConsoleSettings(raw: unknown): ResolvedConsole | undefined {
  if (raw === undefined) return undefined;
  let value: unknown = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw) as unknown;
    } catch {
      throw new Error(`context console is not JSON: ${raw.slice(0, 80)}`);
    }
  }
  const parsed = consoleSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `  console.${i.path.join('.')}: ${i.message}`);
  throw new Error(
    `context console is invalid:\n${problems.join('\n')}\nSee "The operator's console" in infra/README.md.`,
  );
}
