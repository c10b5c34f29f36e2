/** The three container images, built by `cdk deploy` from the repo's Dockerfiles and pushed to the CDK asset repository. */
import { resolve } from 'node:path';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';

/** The build context of every image: the repository root, filtered by its .dockerignore. */
export const REPO_ROOT = resolve(__dirname, '..', '..');

export type ImageName = 'worker' | 'ingress' | 'processor';

/** Path of an image's Dockerfile, relative to {@link REPO_ROOT}. */
export const dockerfileOf = (name: ImageName) => `docker/${name}.Dockerfile`;

/**
 * The image built from `docker/NAME.Dockerfile`. Synth only hashes the context (no Docker engine needed);
 * deploy builds it, for x86-64 whatever the deploying machine is, to match the task definitions.
 */
export function dockerImage(name: ImageName): ecs.ContainerImage {
  return ecs.ContainerImage.fromAsset(REPO_ROOT, {
    file: dockerfileOf(name),
    platform: Platform.LINUX_AMD64,
  });
}
