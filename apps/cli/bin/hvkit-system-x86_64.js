#!/usr/bin/env node
import { launch } from './launch.js';

await launch('hvkit-system-x86_64');
