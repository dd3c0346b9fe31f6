import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { AdaptersService } from '../adapters/adapters.service';
import { RequestContext } from '../common/request-context';
import { adapterTool } from './adapter-tools';
import type { ToolDefinition } from './tool.types';

export const TOOL_NAME_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

/** How long a replica serves its list of adapter tools before reading it again. */
const ADAPTER_TOOLS_TTL_MS = 2_000;

/** Least time between two reads caused by calls of unknown adapter tools. */
const MISS_REFRESH_MS = 250;

/** Built-in tool sets hand their definitions to the registry through this token. */
export const BUILT_IN_TOOLS = Symbol('BUILT_IN_TOOLS');

type Listener = () => void;

/**
 * Every tool there is: the built-in ones (fixed at boot) and one per adapter exposed as a tool (read
 * from the database, at most ADAPTER_TOOLS_TTL_MS old). While anyone listens for changes (connected
 * MCP sessions), the adapter tools are re-read on that interval and listeners hear of every change,
 * whichever replica made it.
 */
@Injectable()
export class ToolRegistry implements OnModuleDestroy {
  private readonly logger = new Logger(ToolRegistry.name);
  private readonly builtIn: ReadonlyMap<string, ToolDefinition>;
  private adapterTools: ReadonlyMap<string, ToolDefinition> = new Map();
  private fingerprint = '';
  private loadedAt = 0;
  private loading: Promise<void> | undefined;
  private readonly listeners = new Set<Listener>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    builtIn: readonly ToolDefinition[],
    private readonly adapters: AdaptersService,
    private readonly context: RequestContext,
  ) {
    const byName = new Map<string, ToolDefinition>();
    for (const tool of builtIn) {
      if (!TOOL_NAME_PATTERN.test(tool.name)) throw new Error(`Tool name ${tool.name} is not valid`);
      if (byName.has(tool.name)) throw new Error(`Tool ${tool.name} is defined twice`);
      byName.set(tool.name, tool);
    }
    this.builtIn = byName;
  }

  /** Every tool, built-in first, then adapter tools by name. */
  async all(): Promise<ToolDefinition[]> {
    await this.fresh();
    return [...this.builtIn.values(), ...this.adapterTools.values()];
  }

  /** A name not known yet is looked up again (at most every MISS_REFRESH_MS): the adapter may be brand new. */
  async find(name: string): Promise<ToolDefinition | undefined> {
    const builtIn = this.builtIn.get(name);
    if (builtIn !== undefined) return builtIn;
    await this.fresh();
    if (
      !this.adapterTools.has(name) &&
      name.startsWith('adapter_') &&
      Date.now() - this.loadedAt >= MISS_REFRESH_MS
    )
      await this.refresh();
    return this.adapterTools.get(name);
  }

  /** Calls `listener` whenever the set of tools changes; returns the unsubscribe function. */
  onListChanged(listener: Listener): () => void {
    this.listeners.add(listener);
    if (this.timer === undefined) {
      this.timer = setInterval(() => void this.refresh(), ADAPTER_TOOLS_TTL_MS);
      this.timer.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer !== undefined) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  onModuleDestroy(): void {
    this.listeners.clear();
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async fresh(): Promise<void> {
    if (Date.now() - this.loadedAt < ADAPTER_TOOLS_TTL_MS) return;
    await this.refresh();
  }

  /** One read at a time; concurrent callers share it. */
  private refresh(): Promise<void> {
    this.loading ??= this.load().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async load(): Promise<void> {
    try {
      // Outside any caller's transaction, and in a context of its own when the timer calls it.
      const adapters = await this.context.run(() => this.adapters.exposedAsTools());
      const tools = new Map<string, ToolDefinition>();
      for (const adapter of adapters) {
        const tool = adapterTool(adapter, this.adapters);
        if (!this.builtIn.has(tool.name)) tools.set(tool.name, tool);
      }
      const fingerprint = createHash('sha256')
        .update(JSON.stringify(adapters.map((a) => [a.id, a.name, a.description, a.config, a.updatedAt])))
        .digest('base64url');
      this.adapterTools = tools;
      this.loadedAt = Date.now();
      if (fingerprint !== this.fingerprint) {
        const first = this.fingerprint === '';
        this.fingerprint = fingerprint;
        if (!first) for (const listener of this.listeners) listener();
      }
    } catch (error) {
      // The last list stays in use; the next call or tick tries again.
      this.logger.warn(`Could not read the adapter tools: ${(error as Error).message}`);
    }
  }
}
