import { ProtocolError, ProtocolErrorCode, ResourceNotFoundError } from '@modelcontextprotocol/server'
import type { ReadResourceResult } from '@modelcontextprotocol/server'
import type { Catalog } from '../catalog/catalog.ts'
import type { ListQuery } from '../catalog/list-query.ts'
import type { Principal } from '../tools/tool.ts'
import { completionsFor, uriTemplateMatcher } from './surface.ts'
import type { SurfaceTemplate } from './surface.ts'
import type { CallScope, Toolset } from './toolset.ts'

/** Candidates looked at for one completion: the caller's visible objects that match the text. */
const COMPLETION_SCAN = 200

interface ObjectKind {
  noun: string
  scheme: string
  tool: string
  /** What `identifier` may be besides an id or UUID. */
  names: string
  /** Names of the visible objects whose name matches `search`. */
  namesLike: (catalog: Catalog, principal: Principal, search: string) => Promise<string[]>
  /**
   * The ids of the visible objects with this name, for kinds whose tool takes no names: those
   * named exactly so, else those named so ignoring case. More than one is ambiguous.
   */
  idsByName?: (catalog: Catalog, principal: Principal, name: string) => Promise<number[]>
}

function idsNamed<Row extends { id: number }> (rows: readonly Row[], nameOf: (row: Row) => string, name: string): number[] {
  const exact = rows.filter(row => nameOf(row) === name)
  const matched = exact.length > 0 ? exact : rows.filter(row => nameOf(row).toLowerCase() === name.toLowerCase())
  return matched.map(row => row.id)
}

function searchQuery (search: string): ListQuery {
  return { page: 1, pageSize: COMPLETION_SCAN, filters: [], orderColumn: 'id', orderDirection: 'asc', ...(search === '' ? {} : { search }) }
}

const KINDS: readonly ObjectKind[] = [
  {
    noun: 'dataset',
    scheme: 'dataset',
    tool: 'get_dataset_info',
    names: 'table name',
    namesLike: async (catalog, principal, search) => (await catalog.listDatasets(searchQuery(search), principal.access)).rows.map(row => row.table_name)
  },
  {
    noun: 'chart',
    scheme: 'chart',
    tool: 'get_chart_info',
    names: 'chart name',
    namesLike: async (catalog, principal, search) => (await catalog.listCharts(searchQuery(search), principal.access)).rows.map(row => row.slice_name),
    idsByName: async (catalog, principal, name) => idsNamed((await catalog.listCharts(searchQuery(name), principal.access)).rows, row => row.slice_name, name)
  },
  {
    noun: 'dashboard',
    scheme: 'dashboard',
    tool: 'get_dashboard_info',
    names: 'slug or title',
    namesLike: async (catalog, principal, search) => (await catalog.listDashboards(searchQuery(search), principal.access)).rows.map(row => row.dashboard_title),
    idsByName: async (catalog, principal, name) => idsNamed((await catalog.listDashboards(searchQuery(name), principal.access)).rows, row => row.dashboard_title, name)
  }
]

/** "12" → 12; UUIDs and names stay text. */
function identifierArgument (text: string): number | string {
  return /^[1-9]\d{0,15}$/.test(text) ? Number(text) : text
}

/**
 * Resource templates for one dataset, chart or dashboard (`dataset://orders`,
 * `chart://Revenue%20by%20region`, `dashboard://sales`): the JSON of get_dataset_info,
 * get_chart_info or get_dashboard_info, read through the Toolset, so scopes, roles, the cache and
 * the size guard apply exactly as to the tool. Their `identifier` completes with the names of the
 * objects the caller may see.
 */
export function objectTemplates (catalog: Catalog, toolset: Toolset): SurfaceTemplate[] {
  return KINDS.map(kind => {
    const uriTemplate = `${kind.scheme}://{identifier}`
    const match = uriTemplateMatcher(uriTemplate)
    return {
      template: {
        uriTemplate,
        name: `${kind.noun}_info`,
        title: `One ${kind.noun}`,
        description: `What ${kind.tool} returns for one ${kind.noun}, as JSON. identifier: the ${kind.noun}'s id, UUID or ${kind.names} (completion offers the ${kind.noun}s you may see).`,
        mimeType: 'application/json'
      },
      match,
      async read (uri, variables, scope): Promise<ReadResourceResult> {
        const text = variables.identifier ?? ''
        const identifier = identifierArgument(text)
        const ids = typeof identifier === 'string' ? await kind.idsByName?.(catalog, scope.principal, text) ?? [] : []
        if (ids.length > 1) {
          // Only objects the caller may see are listed: picking one would be a guess.
          throw new ProtocolError(ProtocolErrorCode.InvalidParams, `${ids.length} ${kind.noun}s you may see are named ${JSON.stringify(text)} (ids ${ids.join(', ')}): the name is ambiguous, read ${kind.scheme}://<id> or ${kind.scheme}://<uuid> instead.`)
        }
        const result = await toolset.call(kind.tool, { identifier: ids[0] ?? identifier }, scope)
        if (result.isError === true) {
          const message = result.content.map(block => block.type === 'text' ? block.text : '').join('\n')
          if (result._meta?.error_type === 'not_found') throw new ResourceNotFoundError(uri, message)
          throw new ProtocolError(ProtocolErrorCode.InvalidParams, message)
        }
        return { contents: [{ uri, mimeType: 'application/json', text: JSON.stringify(result.structuredContent) }] }
      },
      async complete (variable, value, scope: CallScope) {
        const tool = toolset.get(kind.tool)
        // Names are only offered to those who may call the tool that reads the object.
        if (variable !== 'identifier' || tool === undefined || toolset.refusal(tool, scope.principal) !== undefined) return []
        return completionsFor(await kind.namesLike(catalog, scope.principal, value), value)
      }
    }
  })
}
