#!/usr/bin/env node
// Runs the TypeScript sources directly: Node 24 strips the types (the code uses erasable syntax only).
import '../src/cli.ts'
