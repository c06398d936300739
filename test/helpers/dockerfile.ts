import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Env, JSONInstruction, Label, ModifiableInstruction, DockerfileParser } from 'dockerfile-ast'
import type { Instruction } from 'dockerfile-ast'

/** The repository's Dockerfile. */
export const DOCKERFILE = fileURLToPath(new URL('../../Dockerfile', import.meta.url))

/** A FROM line: the image reference split up, and the stage it names. */
export interface BaseImage {
  image: string
  name: string | null
  tag: string | null
  digest: string | null
  stage: string | null
}

/** A COPY (or ADD) of the final stage: where from, what and to where. */
export interface ImageCopy {
  /** --from=STAGE, or null for the build context. */
  from: string | null
  sources: string[]
  destination: string
}

/**
 * What the image promises its runtime, read from the Dockerfile's final stage: the facts the
 * chart and the manifests must agree with (the user, the ports, the command, the writable paths).
 */
export interface DockerfileFacts {
  /** USER of the final stage, as written ("65532:65532"). */
  user: string | null
  workdir: string | null
  entrypoint: string[]
  cmd: string[]
  /** EXPOSEd ports, as numbers. */
  exposed: number[]
  env: Record<string, string>
  labels: Record<string, string>
  /** The only paths the service writes to (emptyDir volumes in a pod). */
  writablePaths: string[]
  /** HEALTHCHECK CMD, exec form. */
  healthcheck: string[]
  volumes: string[]
  froms: BaseImage[]
  copies: ImageCopy[]
}

/** The exec (JSON) form of ENTRYPOINT, CMD or VOLUME; a shell form is an error. */
function execForm (instruction: Instruction): string[] {
  if (!(instruction instanceof JSONInstruction) || instruction.getOpeningBracket() === null) throw new Error(`${instruction.getKeyword()} is not in exec form: ${instruction.getArgumentsContent() ?? ''}`)
  return instruction.getJSONStrings().map(argument => argument.getJSONValue())
}

/** HEALTHCHECK [OPTIONS] CMD [...]: the exec form after CMD. */
function healthcheckCommand (instruction: Instruction): string[] {
  const raw = instruction.getRawArgumentsContent() ?? ''
  const command = /\bCMD\s+(\[[\s\S]*\])\s*$/.exec(raw.replace(/\\\r?\n/g, ' '))?.[1]
  if (command === undefined) throw new Error(`HEALTHCHECK is not CMD in exec form: ${raw}`)
  return JSON.parse(command) as string[]
}

function properties (instruction: Env | Label): Record<string, string> {
  return Object.fromEntries(instruction.getProperties().map(property => [property.getName(), property.getValue() ?? '']))
}

/** Parse the Dockerfile (or `text`) and return its final stage's facts. */
export function dockerfileFacts (text: string = readFileSync(DOCKERFILE, 'utf8')): DockerfileFacts {
  const dockerfile = DockerfileParser.parse(text)
  const froms = dockerfile.getFROMs().map(from => ({
    image: from.getImage() ?? '',
    name: from.getImageName(),
    tag: from.getImageTag(),
    digest: from.getImageDigest(),
    stage: from.getBuildStage()
  }))
  const instructions = dockerfile.getInstructions()
  const lastFrom = instructions.findLastIndex(instruction => instruction.getKeyword() === 'FROM')
  const final = instructions.slice(lastFrom + 1)
  const last = (keyword: string): Instruction | undefined => final.findLast(instruction => instruction.getKeyword() === keyword)

  const facts: DockerfileFacts = {
    user: last('USER')?.getArgumentsContent() ?? null,
    workdir: last('WORKDIR')?.getArgumentsContent() ?? null,
    entrypoint: [],
    cmd: [],
    exposed: [],
    env: {},
    labels: {},
    writablePaths: ['/data', '/tmp'],
    healthcheck: [],
    volumes: [],
    froms,
    copies: []
  }
  const entrypoint = last('ENTRYPOINT')
  if (entrypoint !== undefined) facts.entrypoint = execForm(entrypoint)
  const cmd = last('CMD')
  if (cmd !== undefined) facts.cmd = execForm(cmd)
  const healthcheck = last('HEALTHCHECK')
  if (healthcheck !== undefined) facts.healthcheck = healthcheckCommand(healthcheck)
  for (const instruction of final) {
    switch (instruction.getKeyword()) {
      case 'EXPOSE':
        facts.exposed.push(...instruction.getArguments().map(argument => Number.parseInt(argument.getValue(), 10)))
        break
      case 'ENV':
      case 'LABEL':
        Object.assign(instruction.getKeyword() === 'ENV' ? facts.env : facts.labels, properties(instruction as Env | Label))
        break
      case 'VOLUME':
        facts.volumes.push(...execForm(instruction))
        break
      case 'COPY':
      case 'ADD': {
        const from = instruction instanceof ModifiableInstruction ? instruction.getFlags().find(flag => flag.getName() === 'from') : undefined
        const paths = instruction.getArguments().map(argument => argument.getValue())
        facts.copies.push({ from: from?.getValue() ?? null, sources: paths.slice(0, -1), destination: paths.at(-1) ?? '' })
        break
      }
    }
  }
  return facts
}
