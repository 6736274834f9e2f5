/**
 * Builds the dashboard page (web/) into dist/web/, which `switchyard dashboard` serves and the
 * package ships. Run by `npm run build` (and so by `prepare` on `npm ci`). Everything the page
 * needs is bundled: it loads nothing from anywhere but its own server at run time.
 */
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

export default defineConfig({
  root: 'web',
  base: '/',
  plugins: [preact()],
  logLevel: 'warn',
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // no inlined data: URLs for scripts; the CSP allows only this origin
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
});
