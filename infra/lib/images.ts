/**
 * The four container images, built by `cdk deploy` from the repo's Dockerfiles and pushed to the CDK asset
 * repository, and how every task and job definition runs them: hardened the same way everywhere.
 */
import { resolve } from 'node:path';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type { Construct } from 'constructs';

/** The build context of every image: the repository root, filtered by its .dockerignore. */
export const REPO_ROOT = resolve(__dirname, '..', '..');

export type ImageName = 'worker' | 'ingress' | 'processor' | 'console';

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

/** The platform of every ECS task definition: the one {@link dockerImage} builds for. */
export const RUNTIME_PLATFORM: ecs.RuntimePlatform = {
  cpuArchitecture: ecs.CpuArchitecture.X86_64,
  operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
};

/** The images' unprivileged `node` user, by number (their USER): every container definition sets it too. */
export const CONTAINER_USER = '1000:1000';

/**
 * The container settings of every ECS task definition: a read-only root filesystem (no process writes to
 * local disk; test/processors runs them with writes refused), the unprivileged user, no Linux capability at
 * all, and an init process that forwards SIGTERM and reaps children.
 */
export function hardenedContainer(scope: Construct, id: string) {
  const linuxParameters = new ecs.LinuxParameters(scope, id, { initProcessEnabled: true });
  linuxParameters.dropCapabilities(ecs.Capability.ALL);
  return { readonlyRootFilesystem: true, user: CONTAINER_USER, linuxParameters } as const;
}
