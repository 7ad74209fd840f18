// The legacy scene's build loads the stylesheet as text (esbuild's text loader).
declare module '*.css' {
  const text: string
  export default text
}
