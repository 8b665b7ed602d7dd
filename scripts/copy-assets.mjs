// Files the compiled package reads at run time besides its JavaScript: copied next to it in dist/.
import { copyFileSync } from "node:fs";

for (const file of ["src/patch/shim-runtime.rs", "src/patch/build-script-wrapper.rs", "src/patch/nofollow.rs"]) copyFileSync(file, `dist/${file}`);
