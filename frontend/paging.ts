/**
 * The flag list shows this many rows at first, then as many more at each request: a project of
 * 2,000 flags opens as fast as one of 100. Search, filters and sort always cover every flag; only
 * the rows drawn are paged. (No imports: the UI benchmark reads it too.)
 */
export const FLAG_PAGE = 100
