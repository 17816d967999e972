package cli

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/alecthomas/kong"
)

// CompletionFlag asks a tool for its shell completion script instead of
// running it: NAME --completion bash (or zsh, or fish). It is handled
// before the command line is parsed, so it works for tools with
// subcommands too.
const CompletionFlag = "--completion"

// ValuesFlag asks a tool for the values of one kind that only this machine
// knows now (the kernel cache's labels, the run store's labels), one a
// line: the completion scripts run NAME --complete-values KIND while the
// user presses Tab. It prints nothing and exits 0 on any error: a
// completion must never print into the command line.
const ValuesFlag = "--complete-values"

// FileWords, among a flag's completion words, also offers file names.
const FileWords = "<files>"

// Completer is implemented by grammars whose flags take values from a list
// only the tool knows (scenario names, built-in schedulers): words by flag
// name, without dashes. Comma-separated lists complete item by item. Words
// made by Values and KeyValues are asked of the tool at completion time.
type Completer interface {
	CompletionWords() map[string][]string
}

// ValueLister is implemented by grammars whose completion words include
// Values or KeyValues: the values of kind, now. It should be fast (it runs
// on every Tab) and must not change anything.
type ValueLister interface {
	CompletionValues(kind string) ([]string, error)
}

const valuesPrefix = "<values:"

// Args is the key, among a Completer's words, of the positional arguments
// of subcommand cmd: Args("resolve") offers words (Values included) where
// ktstr-kernel resolve takes its SPEC, with file names too.
func Args(cmd string) string { return "<args:" + cmd + ">" }

// Values is a completion word that stands for the values of kind the tool
// lists at completion time (ValueLister), e.g. Values("kernel").
func Values(kind string) string { return valuesPrefix + kind + ">" }

// KeyValues is a completion word for KEY=VALUE filters: after key (which
// ends in "="), the values of kind the tool lists at completion time.
func KeyValues(key, kind string) string { return valuesPrefix + kind + ">" + key }

// dynamic splits a Values or KeyValues word; ok is false for a plain word.
func dynamic(w string) (kind, key string, ok bool) {
	rest, ok := strings.CutPrefix(w, valuesPrefix)
	if !ok {
		return "", "", false
	}
	kind, key, ok = strings.Cut(rest, ">")
	return kind, key, ok
}

// completionShell returns the shell of a completion request in args.
func completionShell(args []string) (shell string, ok bool) {
	return flagValue(args, CompletionFlag)
}

// flagValue finds --flag VALUE or --flag=VALUE in args.
func flagValue(args []string, flag string) (string, bool) {
	for i, a := range args {
		switch {
		case a == "--":
			return "", false
		case a == flag && i+1 < len(args):
			return args[i+1], true
		case strings.HasPrefix(a, flag+"="):
			return strings.TrimPrefix(a, flag+"="), true
		}
	}
	return "", false
}

// writeValues answers --complete-values KIND: the values one a line, or
// nothing at all when the grammar cannot list them or listing fails.
func writeValues(w io.Writer, grammar any, kind string) {
	l, ok := grammar.(ValueLister)
	if !ok {
		return
	}
	vals, err := l.CompletionValues(kind)
	if err != nil {
		return
	}
	for _, v := range vals {
		fmt.Fprintln(w, v)
	}
}

// compCommand is one command of a tool (the tool itself, or a subcommand)
// with the flags it accepts.
type compCommand struct {
	name  string // "" for the tool itself
	help  string
	flags []*kong.Flag
	subs  []string
}

// commands walks the kong model: the tool and its subcommands, sorted by
// name, each with every flag it accepts (its own and its parents').
func commands(app *kong.Application) []compCommand {
	var cmds []compCommand
	var walk func(n *kong.Node, path string, inherited []*kong.Flag)
	walk = func(n *kong.Node, path string, inherited []*kong.Flag) {
		flags := append(slices.Clone(inherited), n.Flags...)
		c := compCommand{name: path, help: n.Help, flags: flags}
		for _, ch := range n.Children {
			if ch.Type == kong.CommandNode && !ch.Hidden {
				c.subs = append(c.subs, ch.Name)
				walk(ch, ch.Name, flags)
			}
		}
		cmds = append(cmds, c)
	}
	walk(app.Node, "", nil)
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	return cmds
}

// Completion renders the completion script for shell ("bash", "zsh" or
// "fish") from the kong model of a tool: its subcommands, its flags, enum
// values, and the words of words (by flag name).
func Completion(app *kong.Application, shell string, words map[string][]string) (string, error) {
	switch shell {
	case "bash", "zsh":
		return bashCompletion(app, shell, words), nil
	case "fish":
		return fishCompletion(app, words), nil
	}
	return "", fmt.Errorf("%s: unknown shell %q (bash, zsh or fish)", CompletionFlag, shell)
}

func funcName(name string) string {
	return "_" + strings.NewReplacer("-", "_", ".", "_").Replace(name)
}

// splitWords sorts a flag's words into plain ones, Values kinds, KeyValues
// pairs (KEY=:KIND) and whether files are offered too.
func splitWords(words []string) (plain, kinds, keyed []string, files bool) {
	for _, w := range words {
		kind, key, ok := dynamic(w)
		switch {
		case w == FileWords:
			files = true
		case ok && key == "":
			kinds = append(kinds, kind)
		case ok:
			keyed = append(keyed, key+":"+kind)
		default:
			plain = append(plain, w)
		}
	}
	return plain, kinds, keyed, files
}

// bashCompletion is the bash script; zsh runs the same one through its
// bash completion emulation.
//
// bash splits a word at = and : (COMP_WORDBREAKS) into pieces of
// COMP_WORDS and replaces only the text after the last of them, while
// zsh's emulation gives whole words and replaces them whole. So the script
// works on whole words, rebuilt from COMP_LINE, and strips from each reply
// what bash keeps (see _out).
func bashCompletion(app *kong.Application, shell string, words map[string][]string) string {
	name := app.Name
	fn := funcName(name)
	cmds := commands(app)
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	if shell == "bash" {
		p("# bash completion for %s. Generated by: %s %s bash", name, name, CompletionFlag)
	} else {
		p("#compdef %s", name)
		p("# zsh completion for %s, through zsh's bash completion emulation. Generated by: %s %s zsh", name, name, CompletionFlag)
		p("autoload -U +X bashcompinit && bashcompinit")
	}
	p("%s_values() { # what the tool lists of kind $1 now (kernel or store labels); nothing on any error", fn)
	p("\t\"${COMP_WORDS[0]}\" %s \"$1\" 2>/dev/null", ValuesFlag)
	p("}")
	p("%s_list() { # complete the last item of the comma-separated list in $cur from the words $1", fn)
	p("\tlocal items=")
	p("\t[[ $cur == *,* ]] && items=${cur%%,*},")
	p("\tCOMPREPLY=($(compgen -P \"$items\" -W \"$1\" -- \"${cur##*,}\"))")
	p("}")
	p("%s_kv() { # KEY=VALUE: the keys $1; after KEY=, the values of its kind (pairs KEY=:KIND in $2)", fn)
	p("\tlocal pair key")
	p("\tfor pair in $2; do")
	p("\t\tkey=${pair%%%%:*}")
	p("\t\tif [[ $cur == \"$key\"* ]]; then")
	p("\t\t\tpre=$pre$key cur=${cur#\"$key\"}")
	p("\t\t\t%s_list \"$(%s_values \"${pair#*:}\")\"", fn, fn)
	p("\t\t\treturn")
	p("\t\tfi")
	p("\tdone")
	p("\t%s_list \"$1\"", fn)
	p("\t[[ ${#COMPREPLY[@]} == 1 && ${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null")
	p("}")
	p("%s_out() { # prefix the replies with $pre, less what bash keeps of the word", fn)
	p("\tlocal strip=${full%%\"$bword\"} r out=()")
	p("\tfor r in \"${COMPREPLY[@]}\"; do r=$pre$r; out+=(\"${r#\"$strip\"}\"); done")
	p("\tCOMPREPLY=(\"${out[@]}\")")
	p("}")
	p("%s() {", fn)
	p("\tlocal full=${COMP_WORDS[COMP_CWORD]} bword=${COMP_WORDS[COMP_CWORD]} cur prev pre= cmd= i k w")
	p("\t[[ $bword == = ]] && bword=")
	p("\tif [[ -n ${COMP_LINE:-} ]]; then full=${COMP_LINE:0:$COMP_POINT}; full=${full##*[[:space:]]}; fi")
	p("\t# The pieces of COMP_WORDS that make the whole word; the word before it.")
	p("\tk=$COMP_CWORD w=${COMP_WORDS[COMP_CWORD]}")
	p("\twhile [[ $w != \"$full\" ]] && ((k > 1)); do k=$((k - 1)); w=${COMP_WORDS[k]}$w; done")
	p("\tif [[ $w != \"$full\" ]]; then k=$COMP_CWORD full=${COMP_WORDS[COMP_CWORD]} bword=$full; fi")
	p("\tprev=${COMP_WORDS[k-1]} cur=$full")
	p("\tif [[ $full == -*=* ]]; then prev=${full%%%%=*} cur=${full#*=} pre=${full%%%%=*}=; fi")
	var subs []string
	for _, c := range cmds {
		if c.name != "" {
			subs = append(subs, c.name)
		}
	}
	if len(subs) > 0 {
		p("\tfor ((i = 1; i < k; i++)); do")
		p("\t\tcase ${COMP_WORDS[i]} in %s) cmd=${COMP_WORDS[i]} ;; esac", strings.Join(subs, " | "))
		p("\tdone")
	}
	p("\t%s_reply", fn)
	p("\t%s_out", fn)
	p("}")
	p("%s_reply() {", fn)
	// Values of the flag before the cursor.
	p("\tcase \"$cmd $prev\" in")
	for _, c := range cmds {
		for _, f := range c.flags {
			if f.Hidden || f.IsBool() || f.IsCounter() {
				continue
			}
			var pats []string
			for _, n := range flagNames(f) {
				pats = append(pats, fmt.Sprintf("%q", c.name+" "+n))
			}
			p("\t%s) %s; return ;;", strings.Join(pats, " | "), bashValueAction(fn, f, words[f.Name]))
		}
	}
	p("\t*\" %s\") COMPREPLY=($(compgen -W \"bash zsh fish\" -- \"$cur\")); return ;;", CompletionFlag)
	p("\tesac")
	// Flag names.
	p("\tif [[ $cur == -* ]]; then")
	p("\t\tcase $cmd in")
	for _, c := range cmds {
		var names []string
		for _, f := range c.flags {
			if !f.Hidden {
				names = append(names, flagNames(f)...)
			}
		}
		names = append(names, CompletionFlag)
		p("\t\t%q) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;", c.name, strings.Join(names, " "))
	}
	p("\t\tesac")
	p("\t\treturn")
	p("\tfi")
	// Subcommands, else positional arguments: their words and file names
	// where the tool gives words (Args), else files by the default.
	for _, c := range cmds {
		if w, ok := words[Args(c.name)]; ok && c.name != "" {
			p("\tif [[ $cmd == %q ]]; then %s; return; fi", c.name, bashWordsAction(fn, append(w, FileWords)))
		}
	}
	for _, c := range cmds {
		if c.name == "" && len(c.subs) > 0 {
			p("\t[[ -n $cmd ]] || COMPREPLY=($(compgen -W %q -- \"$cur\"))", strings.Join(c.subs, " "))
		}
	}
	p("}")
	p("complete -o default -F %s %s", fn, name)
	if shell == "zsh" {
		// Autoloaded from $fpath as _NAME by the first completion: answer
		// that one too (sourced outside completion, compstate is unset).
		p("(( ${+compstate} )) && _bash_complete -o default -F %s", fn)
	}
	return b.String()
}

func flagNames(f *kong.Flag) []string {
	names := []string{"--" + f.Name}
	if f.Short != 0 {
		names = append(names, "-"+string(f.Short))
	}
	for _, a := range f.Aliases {
		names = append(names, "--"+a)
	}
	return names
}

func isPath(f *kong.Flag) bool {
	return f.Tag != nil && (f.Tag.Type == "path" || f.Tag.Type == "existingfile" || f.Tag.Type == "existingdir")
}

// bashValueAction is the bash that completes a value of f: its enum, its
// words (comma-separated lists item by item, values the tool lists now,
// KEY=VALUE filters), file names, or nothing to offer.
func bashValueAction(fn string, f *kong.Flag, words []string) string {
	switch {
	case f.Enum != "":
		return fmt.Sprintf("COMPREPLY=($(compgen -W %q -- \"$cur\"))", strings.Join(strings.Split(f.Enum, ","), " "))
	case len(words) > 0:
		return bashWordsAction(fn, words)
	case isPath(f):
		return "COMPREPLY=()" // the default: file names
	}
	return "COMPREPLY=(); compopt +o default 2>/dev/null" // a value only the user knows
}

// bashWordsAction is the bash that completes from words: comma-separated
// lists item by item, values the tool lists now, KEY=VALUE filters, and
// file names when words has FileWords.
func bashWordsAction(fn string, words []string) string {
	plain, kinds, keyed, files := splitWords(words)
	list := strings.Join(plain, " ")
	for _, k := range kinds {
		list += fmt.Sprintf(" $(%s_values %s)", fn, k)
	}
	list = strings.TrimSpace(list)
	action := fmt.Sprintf("%s_list \"%s\"", fn, list)
	if len(keyed) > 0 {
		action = fmt.Sprintf("%s_kv \"%s\" %q", fn, list, strings.Join(keyed, " "))
	}
	if files {
		action += "; COMPREPLY+=($(compgen -f -- \"$cur\"))"
	}
	return action
}

// fishCompletion is the fish script: one complete line per flag, with the
// flag's help as its description, subcommands offered until one is given,
// a subcommand's own flags only after it.
func fishCompletion(app *kong.Application, words map[string][]string) string {
	name := app.Name
	fn := "_" + funcName(name)
	cmds := commands(app)
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# fish completion for %s. Generated by: %s %s fish", name, name, CompletionFlag)
	p("complete -c %s -e", name)
	p("function %s_values --description 'what the tool lists of kind $argv[1] now; nothing on any error'", fn)
	p("    set -l tool (commandline -opc)[1]")
	p("    command $tool %s $argv[1] 2>/dev/null", ValuesFlag)
	p("end")
	p("function %s_list --description 'the words $argv after the items before the last comma of the value being completed'", fn)
	p("    set -l tok (string replace -r -- '^--?[^=]*=' '' (commandline -ct))")
	p("    set -l items (string replace -r -- '[^,]*$' '' $tok)")
	p("    for w in $argv")
	p("        echo $items$w")
	p("    end")
	p("end")
	p("function %s_kv --description 'KEY=VALUE: the keys $argv[1]; after KEY=, the values of its kind (KEY=:KIND pairs)'", fn)
	p("    set -l tok (string replace -r -- '^--?[^=]*=' '' (commandline -ct))")
	p("    for pair in $argv[2..-1]")
	p("        set -l kv (string split -m1 : -- $pair)")
	p("        if string match -q -- \"$kv[1]*\" $tok")
	p("            set -l rest (string sub -s (math (string length -- $kv[1]) + 1) -- $tok)")
	p("            set -l items (string replace -r -- '[^,]*$' '' $rest)")
	p("            for v in (%s_values $kv[2])", fn)
	p("                echo $kv[1]$items$v")
	p("            end")
	p("            return")
	p("        end")
	p("    end")
	p("    %s_list (string split ' ' -- $argv[1])", fn)
	p("end")
	var root compCommand
	for _, c := range cmds {
		if c.name == "" {
			root = c
		}
	}
	inRoot := map[*kong.Flag]bool{}
	for _, f := range root.flags {
		inRoot[f] = true
	}
	if len(root.subs) > 0 {
		for _, c := range cmds {
			if c.name != "" {
				p("complete -c %s -n __fish_use_subcommand -f -a %s -d %s", name, fishQuote(c.name), fishQuote(firstSentence(c.help)))
			}
		}
	}
	for _, c := range cmds {
		cond := ""
		if c.name != "" {
			cond = " -n " + fishQuote("__fish_seen_subcommand_from "+c.name)
		}
		for _, f := range c.flags {
			if f.Hidden || (c.name != "" && inRoot[f]) {
				continue
			}
			line := fmt.Sprintf("complete -c %s%s -l %s", name, cond, f.Name)
			if f.Short != 0 {
				line += " -s " + string(f.Short)
			}
			for _, a := range f.Aliases {
				line += " -l " + a
			}
			if d := firstSentence(f.Help); d != "" {
				line += " -d " + fishQuote(d)
			}
			if !f.IsBool() && !f.IsCounter() {
				line += " " + fishValueArgs(fn, f, words[f.Name])
			}
			p("%s", line)
		}
	}
	for _, c := range cmds {
		if w, ok := words[Args(c.name)]; ok && c.name != "" {
			p("complete -c %s -n %s -a %s", name, fishQuote("__fish_seen_subcommand_from "+c.name), fishQuote(fishWords(fn, w)))
		}
	}
	p("complete -c %s -l %s -x -a 'bash zsh fish' -d 'Print the shell completion script'", name, strings.TrimPrefix(CompletionFlag, "--"))
	return b.String()
}

// fishValueArgs are the complete options for a value of f.
func fishValueArgs(fn string, f *kong.Flag, words []string) string {
	switch {
	case f.Enum != "":
		return "-x -a " + fishQuote(strings.Join(strings.Split(f.Enum, ","), " "))
	case len(words) > 0:
		if _, _, _, files := splitWords(words); files {
			return "-r -F -a " + fishQuote(fishWords(fn, words))
		}
		return "-x -a " + fishQuote(fishWords(fn, words))
	case isPath(f):
		return "-r -F"
	}
	return "-x"
}

// fishWords is the fish command substitution that lists words (lists item
// by item, values the tool lists now, KEY=VALUE filters); file names, when
// words has FileWords, are fish's to add.
func fishWords(fn string, words []string) string {
	plain, kinds, keyed, _ := splitWords(words)
	if len(keyed) > 0 {
		return fmt.Sprintf("(%s_kv %s %s)", fn, fishQuote(strings.Join(plain, " ")), strings.Join(quoteAll(keyed), " "))
	}
	args := quoteAll(plain)
	for _, k := range kinds {
		args = append(args, fmt.Sprintf("(%s_values %s)", fn, k))
	}
	return fmt.Sprintf("(%s_list %s)", fn, strings.Join(args, " "))
}

func quoteAll(ws []string) []string {
	q := make([]string, len(ws))
	for i, w := range ws {
		q[i] = fishQuote(w)
	}
	return q
}

// fishQuote single-quotes s for fish (\ and ' escaped).
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// firstSentence is the first sentence of a help text, for a one-line
// description.
func firstSentence(help string) string {
	help = strings.Join(strings.Fields(help), " ")
	if i := strings.Index(help, ". "); i >= 0 {
		help = help[:i]
	}
	return strings.TrimSuffix(help, ".")
}
