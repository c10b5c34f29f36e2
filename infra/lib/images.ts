/**
 * The four container images, built by `cdk deploy` from the repo's Dockerfiles and pushed to the CDK asset
 * repository, or, with the `imageTag` context, the ones CI built, scanned and pushed to ECR
 * (.github/workflows/deliver.yml); and how every task and job definition runs them: hardened the same way
 * everywhere.
 */
import { resolve } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type { Construct } from 'constructs';

/** The build context of every image: the repository root, filtered by its .dockerignore. */
export const REPO_ROOT = resolve(__dirname, '..', '..');

export type ImageName = 'worker' | 'ingress' | 'processor' | 'console';

/** Path of an image's Dockerfile, relative to {@link REPO_ROOT}. */
export const dockerfileOf = (name: ImageName) => `docker/${name}.Dockerfile`;

/**
 * Images pushed beforehand to ECR repositories `PREFIX/NAME` of the stack's account and region, all with one
 * tag (CI pushes the commit SHA: .github/workflows/deliver.yml).
 */
export interface PrebuiltImages {
  readonly repositoryPrefix: string;
  readonly tag: string;
}

/**
 * The image of `docker/NAME.Dockerfile`. Without `prebuilt`, built by the CDK: synth only hashes the context
 * (no Docker engine needed); deploy builds it, for x86-64 whatever the deploying machine is, to match the task
 * definitions. With `prebuilt`, the image `PREFIX/NAME:TAG` of ECR, which must be there already: nothing is
 * built, and the execution role may pull only that repository.
 */
export function dockerImage(
  scope: Construct,
  name: ImageName,
  prebuilt?: PrebuiltImages,
): ecs.ContainerImage {
  if (prebuilt) {
    // One imported repository per image and stack, however many task and job definitions run it.
    const stack = Stack.of(scope);
    const id = `ImageRepository-${name}`;
    const repository =
      (stack.node.tryFindChild(id) as ecr.IRepository | undefined) ??
      ecr.Repository.fromRepositoryName(stack, id, `${prebuilt.repositoryPrefix}/${name}`);
    return ecs.ContainerImage.fromEcrRepository(repository, prebuilt.tag);
  }
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
