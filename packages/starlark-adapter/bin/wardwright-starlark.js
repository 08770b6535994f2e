#!/usr/bin/env node
// A committed entry point, so `npm install` links the bin before the first build.
import '../dist/cli.js';
