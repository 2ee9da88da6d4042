
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'ctl' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'ctl'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'ctl' {
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Platform server base URL [default: http://localhost:8081]')
            [CompletionResult]::new('--api-key', '--api-key', [CompletionResultType]::ParameterName, 'API key sent as `Authorization: Bearer` (falls back to IDP_API_KEY)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human-readable text, or one JSON object per line on stdout')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human-readable text, or one JSON object per line on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--icons', '--icons', [CompletionResultType]::ParameterName, 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)')
            [CompletionResult]::new('--timestamps', '--timestamps', [CompletionResultType]::ParameterName, 'Timestamp column of event lines')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Named context from the config file: its server and API key (overrides current-context)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/ctl/config.yaml, i.e. ~/.config/ctl/config.yaml]')
            [CompletionResult]::new('--certificate-authority', '--certificate-authority', [CompletionResultType]::ParameterName, 'PEM file of the certificate authorities to trust for an https server, instead of the system''s')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the essential output (event lines or JSON); no banners or notes')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the essential output (event lines or JSON); no banners or notes')
            [CompletionResult]::new('--insecure-skip-tls-verify', '--insecure-skip-tls-verify', [CompletionResultType]::ParameterName, 'Do not check the https server''s certificate (insecure: for test servers only; warns on every run)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('deploy', 'deploy', [CompletionResultType]::ParameterValue, 'Submit a Score spec to the platform server, and optionally watch it deploy')
            [CompletionResult]::new('watch', 'watch', [CompletionResultType]::ParameterValue, 'Follow an application''s events, or one deployment to its end')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show an application: its latest deployment and its resources')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List applications (-o wide for more columns, -o json for scripts)')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Delete an application and its resources, optionally watching the teardown')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check Score spec files locally, without a server (exit 0 if valid, 2 if not)')
            [CompletionResult]::new('completion', 'completion', [CompletionResultType]::ParameterValue, 'Print a shell completion script to stdout')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print the man page (roff) to stdout')
            [CompletionResult]::new('server', 'server', [CompletionResultType]::ParameterValue, 'Run the bundled reference platform server')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Show the config file''s contexts, or switch the current one')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'ctl;deploy' {
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Stop watching after this long, e.g. 90s, 10m, 1h30m (exit code 3)')
            [CompletionResult]::new('--idle-timeout', '--idle-timeout', [CompletionResultType]::ParameterName, 'Declare the event stream dead after this long without a byte (keep-alives count), and reconnect; keep it above the server''s keep-alive interval (15s on ctl server, 30s on innominatus)')
            [CompletionResult]::new('--retry-budget', '--retry-budget', [CompletionResultType]::ParameterName, 'Keep reconnecting a lost event stream for this long before giving up (exit code 5); a stream back within it resumes where it left off')
            [CompletionResult]::new('--max-event-size', '--max-event-size', [CompletionResultType]::ParameterName, 'Skip (with a note on stderr) any event larger than this, e.g. 1MiB, 256KiB, 4MiB (a bare number means bytes; at least 1KiB)')
            [CompletionResult]::new('--providers', '--providers', [CompletionResultType]::ParameterName, 'Provider catalogue (YAML) for the --local server')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Platform server base URL [default: http://localhost:8081]')
            [CompletionResult]::new('--api-key', '--api-key', [CompletionResultType]::ParameterName, 'API key sent as `Authorization: Bearer` (falls back to IDP_API_KEY)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human-readable text, or one JSON object per line on stdout')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human-readable text, or one JSON object per line on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--icons', '--icons', [CompletionResultType]::ParameterName, 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)')
            [CompletionResult]::new('--timestamps', '--timestamps', [CompletionResultType]::ParameterName, 'Timestamp column of event lines')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Named context from the config file: its server and API key (overrides current-context)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/ctl/config.yaml, i.e. ~/.config/ctl/config.yaml]')
            [CompletionResult]::new('--certificate-authority', '--certificate-authority', [CompletionResultType]::ParameterName, 'PEM file of the certificate authorities to trust for an https server, instead of the system''s')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Watch the deployment and exit with its outcome')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Watch the deployment and exit with its outcome')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Also show internal events (stream bookkeeping, unknown event types)')
            [CompletionResult]::new('--local', '--local', [CompletionResultType]::ParameterName, 'Run against a throwaway in-process server (in-memory store); implies --watch')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the essential output (event lines or JSON); no banners or notes')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the essential output (event lines or JSON); no banners or notes')
            [CompletionResult]::new('--insecure-skip-tls-verify', '--insecure-skip-tls-verify', [CompletionResultType]::ParameterName, 'Do not check the https server''s certificate (insecure: for test servers only; warns on every run)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'ctl;watch' {
            [CompletionResult]::new('--deployment', '--deployment', [CompletionResultType]::ParameterName, 'Follow this deployment to its end and exit with its outcome')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Start after this event id, replaying what came after it (on servers that keep events): an integer (ctl server; innominatus'' nanosecond ids) or nchan''s TIME:TAG')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Stop watching after this long, e.g. 90s, 10m (exit code 3); no limit by default')
            [CompletionResult]::new('--idle-timeout', '--idle-timeout', [CompletionResultType]::ParameterName, 'Declare the event stream dead after this long without a byte (keep-alives count), and reconnect; keep it above the server''s keep-alive interval (15s on ctl server, 30s on innominatus)')
            [CompletionResult]::new('--retry-budget', '--retry-budget', [CompletionResultType]::ParameterName, 'Keep reconnecting a lost event stream for this long before giving up (exit code 5); a stream back within it resumes where it left off')
            [CompletionResult]::new('--max-event-size', '--max-event-size', [CompletionResultType]::ParameterName, 'Skip (with a note on stderr) any event larger than this, e.g. 1MiB, 256KiB, 4MiB (a bare number means bytes; at least 1KiB)')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Platform server base URL [default: http://localhost:8081]')
            [CompletionResult]::new('--api-key', '--api-key', [CompletionResultType]::ParameterName, 'API key sent as `Authorization: Bearer` (falls back to IDP_API_KEY)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human-readable text, or one JSON object per line on stdout')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human-readable text, or one JSON object per line on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--icons', '--icons', [CompletionResultType]::ParameterName, 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)')
            [CompletionResult]::new('--timestamps', '--timestamps', [CompletionResultType]::ParameterName, 'Timestamp column of event lines')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Named context from the config file: its server and API key (overrides current-context)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/ctl/config.yaml, i.e. ~/.config/ctl/config.yaml]')
            [CompletionResult]::new('--certificate-authority', '--certificate-authority', [CompletionResultType]::ParameterName, 'PEM file of the certificate authorities to trust for an https server, instead of the system''s')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Show the app''s events as they come, later deployments included, until Ctrl-C (exit 0) or --timeout, instead of following one deployment to its end')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Also show internal events (stream bookkeeping, unknown event types)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the essential output (event lines or JSON); no banners or notes')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the essential output (event lines or JSON); no banners or notes')
            [CompletionResult]::new('--insecure-skip-tls-verify', '--insecure-skip-tls-verify', [CompletionResultType]::ParameterName, 'Do not check the https server''s certificate (insecure: for test servers only; warns on every run)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'ctl;status' {
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Platform server base URL [default: http://localhost:8081]')
            [CompletionResult]::new('--api-key', '--api-key', [CompletionResultType]::ParameterName, 'API key sent as `Authorization: Bearer` (falls back to IDP_API_KEY)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human-readable text, or one JSON object per line on stdout')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human-readable text, or one JSON object per line on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--icons', '--icons', [CompletionResultType]::ParameterName, 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)')
            [CompletionResult]::new('--timestamps', '--timestamps', [CompletionResultType]::ParameterName, 'Timestamp column of event lines')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Named context from the config file: its server and API key (overrides current-context)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/ctl/config.yaml, i.e. ~/.config/ctl/config.yaml]')
            [CompletionResult]::new('--certificate-authority', '--certificate-authority', [CompletionResultType]::ParameterName, 'PEM file of the certificate authorities to trust for an https server, instead of the system''s')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the essential output (event lines or JSON); no banners or notes')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the essential output (event lines or JSON); no banners or notes')
            [CompletionResult]::new('--insecure-skip-tls-verify', '--insecure-skip-tls-verify', [CompletionResultType]::ParameterName, 'Do not check the https server''s certificate (insecure: for test servers only; warns on every run)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'ctl;list' {
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Platform server base URL [default: http://localhost:8081]')
            [CompletionResult]::new('--api-key', '--api-key', [CompletionResultType]::ParameterName, 'API key sent as `Authorization: Bearer` (falls back to IDP_API_KEY)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human-readable text, or one JSON object per line on stdout')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human-readable text, or one JSON object per line on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--icons', '--icons', [CompletionResultType]::ParameterName, 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)')
            [CompletionResult]::new('--timestamps', '--timestamps', [CompletionResultType]::ParameterName, 'Timestamp column of event lines')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Named context from the config file: its server and API key (overrides current-context)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/ctl/config.yaml, i.e. ~/.config/ctl/config.yaml]')
            [CompletionResult]::new('--certificate-authority', '--certificate-authority', [CompletionResultType]::ParameterName, 'PEM file of the certificate authorities to trust for an https server, instead of the system''s')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the essential output (event lines or JSON); no banners or notes')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the essential output (event lines or JSON); no banners or notes')
            [CompletionResult]::new('--insecure-skip-tls-verify', '--insecure-skip-tls-verify', [CompletionResultType]::ParameterName, 'Do not check the https server''s certificate (insecure: for test servers only; warns on every run)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'ctl;delete' {
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'With --watch: stop waiting after this long (exit code 3)')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Platform server base URL [default: http://localhost:8081]')
            [CompletionResult]::new('--api-key', '--api-key', [CompletionResultType]::ParameterName, 'API key sent as `Authorization: Bearer` (falls back to IDP_API_KEY)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human-readable text, or one JSON object per line on stdout')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human-readable text, or one JSON object per line on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--icons', '--icons', [CompletionResultType]::ParameterName, 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)')
            [CompletionResult]::new('--timestamps', '--timestamps', [CompletionResultType]::ParameterName, 'Timestamp column of event lines')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Named context from the config file: its server and API key (overrides current-context)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/ctl/config.yaml, i.e. ~/.config/ctl/config.yaml]')
            [CompletionResult]::new('--certificate-authority', '--certificate-authority', [CompletionResultType]::ParameterName, 'PEM file of the certificate authorities to trust for an https server, instead of the system''s')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Watch the teardown: wait for the server''s `application.deleted` event')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Watch the teardown: wait for the server''s `application.deleted` event')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the essential output (event lines or JSON); no banners or notes')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the essential output (event lines or JSON); no banners or notes')
            [CompletionResult]::new('--insecure-skip-tls-verify', '--insecure-skip-tls-verify', [CompletionResultType]::ParameterName, 'Do not check the https server''s certificate (insecure: for test servers only; warns on every run)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'ctl;validate' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human-readable text, or one JSON object per line on stdout')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human-readable text, or one JSON object per line on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--icons', '--icons', [CompletionResultType]::ParameterName, 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)')
            [CompletionResult]::new('--timestamps', '--timestamps', [CompletionResultType]::ParameterName, 'Timestamp column of event lines')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the essential output (event lines or JSON); no banners or notes')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the essential output (event lines or JSON); no banners or notes')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'ctl;completion' {
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'ctl;man' {
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'ctl;server' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Address to listen on (HOST:PORT). Port 0 picks a free port; the address actually bound is printed to stderr as `listening on http://ADDR` (`https://` with --tls-cert)')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Directory of the server''s database [default: the per-user data directory, e.g. ~/.local/share/ctl]')
            [CompletionResult]::new('--providers', '--providers', [CompletionResultType]::ParameterName, 'Provider catalogue (YAML) to use instead of the built-in one')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'API key for team `default` (repeatable). Without any key the server accepts every same-origin request and listens on loopback addresses only. (`--api-key` is the client''s option.)')
            [CompletionResult]::new('--api-keys-file', '--api-keys-file', [CompletionResultType]::ParameterName, 'YAML file of API keys and their teams: `keys: [{key: KEY, team: TEAM}, ...]`. A team sees and deploys only its own applications')
            [CompletionResult]::new('--keepalive', '--keepalive', [CompletionResultType]::ParameterName, 'Interval of keep-alive comments on event streams (e.g. 15s, 500ms)')
            [CompletionResult]::new('--retention', '--retention', [CompletionResultType]::ParameterName, 'Keep at most N events, deleting the oldest. A stream resuming from before the oldest kept event gets one `stream.gap` event')
            [CompletionResult]::new('--tls-cert', '--tls-cert', [CompletionResultType]::ParameterName, 'Serve HTTPS with this PEM certificate chain (the server''s certificate first); needs --tls-key')
            [CompletionResult]::new('--tls-key', '--tls-key', [CompletionResultType]::ParameterName, 'The PEM private key of --tls-cert')
            [CompletionResult]::new('--header-timeout', '--header-timeout', [CompletionResultType]::ParameterName, 'A connection must send a whole request head within this time of connecting (after the TLS handshake), and a kept-alive one within this time of its previous response; otherwise it is closed')
            [CompletionResult]::new('--body-timeout', '--body-timeout', [CompletionResultType]::ParameterName, 'A request body must arrive whole within this time of its head; a slower one is answered 408 and its connection closed')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'At most N open connections that are not event streams; more are answered 503 and closed at once. Lowered, with a warning, to fit the open-file limit')
            [CompletionResult]::new('--max-streams', '--max-streams', [CompletionResultType]::ParameterName, 'At most N event streams at once; more are answered 503. Lowered, with a warning, to fit the open-file limit')
            [CompletionResult]::new('--in-memory', '--in-memory', [CompletionResultType]::ParameterName, 'Keep everything in memory; nothing survives a restart')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'ctl;config' {
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'Platform server base URL [default: http://localhost:8081]')
            [CompletionResult]::new('--api-key', '--api-key', [CompletionResultType]::ParameterName, 'API key sent as `Authorization: Bearer` (falls back to IDP_API_KEY)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: human-readable text, or one JSON object per line on stdout')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: human-readable text, or one JSON object per line on stdout')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--icons', '--icons', [CompletionResultType]::ParameterName, 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)')
            [CompletionResult]::new('--timestamps', '--timestamps', [CompletionResultType]::ParameterName, 'Timestamp column of event lines')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'Named context from the config file: its server and API key (overrides current-context)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: $XDG_CONFIG_HOME/ctl/config.yaml, i.e. ~/.config/ctl/config.yaml]')
            [CompletionResult]::new('--certificate-authority', '--certificate-authority', [CompletionResultType]::ParameterName, 'PEM file of the certificate authorities to trust for an https server, instead of the system''s')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the essential output (event lines or JSON); no banners or notes')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the essential output (event lines or JSON); no banners or notes')
            [CompletionResult]::new('--insecure-skip-tls-verify', '--insecure-skip-tls-verify', [CompletionResultType]::ParameterName, 'Do not check the https server''s certificate (insecure: for test servers only; warns on every run)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('current-context', 'current-context', [CompletionResultType]::ParameterValue, 'Print the config file''s current-context')
            [CompletionResult]::new('get-contexts', 'get-contexts', [CompletionResultType]::ParameterValue, 'List the config file''s contexts (-o json for scripts)')
            [CompletionResult]::new('use-context', 'use-context', [CompletionResultType]::ParameterValue, 'Set the config file''s current-context, keeping the rest of the file as written')
            [CompletionResult]::new('view', 'view', [CompletionResultType]::ParameterValue, 'Print the config file, with every literal api-key redacted')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'ctl;config;current-context' {
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'ctl;config;get-contexts' {
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'ctl;config;use-context' {
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'ctl;config;view' {
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More detail: event ids, providers and data; repeat (-vv) for full error chains')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'ctl;config;help' {
            [CompletionResult]::new('current-context', 'current-context', [CompletionResultType]::ParameterValue, 'Print the config file''s current-context')
            [CompletionResult]::new('get-contexts', 'get-contexts', [CompletionResultType]::ParameterValue, 'List the config file''s contexts (-o json for scripts)')
            [CompletionResult]::new('use-context', 'use-context', [CompletionResultType]::ParameterValue, 'Set the config file''s current-context, keeping the rest of the file as written')
            [CompletionResult]::new('view', 'view', [CompletionResultType]::ParameterValue, 'Print the config file, with every literal api-key redacted')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'ctl;config;help;current-context' {
            break
        }
        'ctl;config;help;get-contexts' {
            break
        }
        'ctl;config;help;use-context' {
            break
        }
        'ctl;config;help;view' {
            break
        }
        'ctl;config;help;help' {
            break
        }
        'ctl;help' {
            [CompletionResult]::new('deploy', 'deploy', [CompletionResultType]::ParameterValue, 'Submit a Score spec to the platform server, and optionally watch it deploy')
            [CompletionResult]::new('watch', 'watch', [CompletionResultType]::ParameterValue, 'Follow an application''s events, or one deployment to its end')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show an application: its latest deployment and its resources')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List applications (-o wide for more columns, -o json for scripts)')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Delete an application and its resources, optionally watching the teardown')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check Score spec files locally, without a server (exit 0 if valid, 2 if not)')
            [CompletionResult]::new('completion', 'completion', [CompletionResultType]::ParameterValue, 'Print a shell completion script to stdout')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print the man page (roff) to stdout')
            [CompletionResult]::new('server', 'server', [CompletionResultType]::ParameterValue, 'Run the bundled reference platform server')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Show the config file''s contexts, or switch the current one')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'ctl;help;deploy' {
            break
        }
        'ctl;help;watch' {
            break
        }
        'ctl;help;status' {
            break
        }
        'ctl;help;list' {
            break
        }
        'ctl;help;delete' {
            break
        }
        'ctl;help;validate' {
            break
        }
        'ctl;help;completion' {
            break
        }
        'ctl;help;man' {
            break
        }
        'ctl;help;server' {
            break
        }
        'ctl;help;config' {
            [CompletionResult]::new('current-context', 'current-context', [CompletionResultType]::ParameterValue, 'Print the config file''s current-context')
            [CompletionResult]::new('get-contexts', 'get-contexts', [CompletionResultType]::ParameterValue, 'List the config file''s contexts (-o json for scripts)')
            [CompletionResult]::new('use-context', 'use-context', [CompletionResultType]::ParameterValue, 'Set the config file''s current-context, keeping the rest of the file as written')
            [CompletionResult]::new('view', 'view', [CompletionResultType]::ParameterValue, 'Print the config file, with every literal api-key redacted')
            break
        }
        'ctl;help;config;current-context' {
            break
        }
        'ctl;help;config;get-contexts' {
            break
        }
        'ctl;help;config;use-context' {
            break
        }
        'ctl;help;config;view' {
            break
        }
        'ctl;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
