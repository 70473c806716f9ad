/**
 * @module Command-line options of the bench scripts, written `--name=value`.
 */

/** The value of `--name=value`, or undefined when it is not given. */
export function arg(name: string, args: readonly string[] = Deno.args): string | undefined {
  return args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

/** Every value of a repeated `--name=value`, in order. */
export function argAll(name: string, args: readonly string[] = Deno.args): string[] {
  return args.filter((a) => a.startsWith(`--${name}=`)).map((a) => a.slice(name.length + 3));
}
