//! Asking the operator at a terminal: confirmations before irreversible and manual steps, and
//! values nobody supplied (hidden input for secrets).

use std::io::BufRead;

use super::output::{Output, Style};
use crate::run::engine::{Answer, Confirmer, Question, QuestionKind, Request};
use crate::run::inputs::Prompter;
use crate::runbook::model::Input;

pub struct TerminalConfirmer {
    output: Output,
}

impl TerminalConfirmer {
    pub fn new(output: Output) -> TerminalConfirmer {
        TerminalConfirmer { output }
    }
}

impl Confirmer for TerminalConfirmer {
    fn confirm(&self, question: &Question) -> Answer {
        let prompt = match &question.kind {
            QuestionKind::Irreversible { reason, actions } => {
                let mut text = format!(
                    "\n{} step `{}` ({}) cannot be undone: {reason}\n",
                    self.output.paint(Style::Bad, "!!"),
                    question.step_id,
                    question.title
                );
                for action in actions.iter().take(10) {
                    text.push_str(&format!("   {action}\n"));
                }
                if actions.len() > 10 {
                    text.push_str(&format!("   … and {} more\n", actions.len() - 10));
                }
                text.push_str("   Type yes to go ahead, anything else to stop: ");
                text
            }
            QuestionKind::Manual { question: asked } => {
                format!("   {asked} Type yes once it is done, anything else to stop: ")
            }
            QuestionKind::InDoubt { facts } => format!(
                "\n{} {facts}.\n   Check by hand, then type repeat to send it again, skip if it took effect, anything else to stop: ",
                self.output.paint(Style::Warn, "??")
            ),
        };
        self.output.err(&prompt);
        discard_typed_ahead();
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line).is_err() {
            return Answer::No;
        }
        let answer = line.trim().to_ascii_lowercase();
        match (&question.kind, answer.as_str()) {
            (QuestionKind::InDoubt { .. }, "repeat") => Answer::Yes,
            (QuestionKind::InDoubt { .. }, "skip") => Answer::Skip,
            (QuestionKind::InDoubt { .. }, _) => Answer::No,
            (_, "yes") => Answer::Yes,
            _ => Answer::No,
        }
    }

    fn ask(&self, request: &Request) -> Option<String> {
        let about = request
            .description
            .as_deref()
            .map(|text| format!(" ({})", text.trim_end_matches('.')))
            .unwrap_or_default();
        let prompt = if request.secret {
            format!("   {}{about} (input hidden): ", request.name)
        } else {
            format!("   {}{about}: ", request.name)
        };
        read_answer(&self.output, &prompt, request.secret)
    }
}

/// Throws away whatever was typed or pasted at the terminal before a question was asked (a
/// `yes` typed while a slow step ran, or pasted along with the previous answer): only an answer
/// typed after the question may confirm anything. A terminal in canonical mode hands a program
/// one line per read, so nothing of it waits in this process's own buffer.
pub fn discard_typed_ahead() {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        // SAFETY: tcflush on this process's own stdin descriptor; no memory is passed.
        unsafe {
            libc::tcflush(libc::STDIN_FILENO, libc::TCIFLUSH);
        }
    }
}

/// Shows `prompt` and reads one line, without echo when `secret`; `None` for nothing typed.
fn read_answer(output: &Output, prompt: &str, secret: bool) -> Option<String> {
    output.err(prompt);
    let answer = if secret {
        let _restore = TerminalRestore::arm();
        rpassword::read_password().ok()?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).ok()?;
        line
    };
    let answer = answer.trim_end_matches(['\r', '\n']).to_string();
    (!answer.is_empty()).then_some(answer)
}

pub struct TerminalPrompter {
    output: Output,
}

impl TerminalPrompter {
    pub fn new(output: Output) -> TerminalPrompter {
        TerminalPrompter { output }
    }
}

impl Prompter for TerminalPrompter {
    fn ask(&self, input: &Input, tried: &[String]) -> Option<String> {
        let about = input
            .description
            .as_deref()
            .and_then(|text| text.lines().next())
            .map(|line| format!(" ({})", line.trim_end_matches('.')))
            .unwrap_or_default();
        let looked = if tried.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = tried.iter().map(|name| format!("${name}")).collect();
            format!("; {} not set", names.join(", "))
        };
        let mut prompt = format!("{}{about}{looked}: ", input.name);
        if input.secret {
            prompt.push_str("(input hidden) ");
        }
        read_answer(&self.output, &prompt, input.secret)
    }
}

/// Puts the terminal back as it was if a signal ends the process during a hidden prompt.
///
/// rpassword reads a hidden answer in raw mode (no echo, no line editing, no signal keys) and
/// undoes that when it returns. Ctrl-C makes it raise SIGINT first, and SIGTERM may come at
/// any time: with the default action the process dies before the terminal is given back, and
/// the operator's shell is left without echo. While armed, this guard's handler restores the
/// terminal's settings and then hands the signal on to whatever handled it before (the
/// default, which ends the process, or the run's own handler, which stops it cleanly).
struct TerminalRestore {
    armed: bool,
}

/// What the handler needs, written before it is armed and only read while it is.
struct Saved {
    termios: std::cell::UnsafeCell<std::mem::MaybeUninit<libc::termios>>,
    previous: std::cell::UnsafeCell<[std::mem::MaybeUninit<libc::sigaction>; 2]>,
}

// SAFETY: written by one thread while ARMED is false, read by the signal handler only while
// ARMED is true (set after the writes with Release, read with Acquire).
unsafe impl Sync for Saved {}

static SAVED: Saved = Saved {
    termios: std::cell::UnsafeCell::new(std::mem::MaybeUninit::uninit()),
    previous: std::cell::UnsafeCell::new([std::mem::MaybeUninit::uninit(); 2]),
};
static ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
const SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

extern "C" fn restore_then_pass_on(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    if !ARMED.load(std::sync::atomic::Ordering::Acquire) {
        return;
    }
    let Some(index) = SIGNALS.iter().position(|handled| *handled == signal) else {
        return;
    };
    // SAFETY: ARMED says both were written; tcsetattr and sigaction are async-signal-safe, and
    // the previous handler is called as the kind its flags say it is.
    unsafe {
        libc::tcsetattr(
            libc::STDIN_FILENO,
            libc::TCSANOW,
            (*SAVED.termios.get()).as_ptr(),
        );
        let previous = (*SAVED.previous.get())[index].as_ptr();
        let handler = (*previous).sa_sigaction;
        if handler == libc::SIG_DFL {
            // Pending until this handler returns (the signal is blocked meanwhile), then the
            // default action ends the process with the terminal as it was.
            libc::sigaction(signal, previous, std::ptr::null_mut());
            libc::raise(signal);
        } else if handler != libc::SIG_IGN {
            if (*previous).sa_flags & libc::SA_SIGINFO != 0 {
                let pass_on: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    std::mem::transmute(handler);
                pass_on(signal, info, context);
            } else {
                let pass_on: extern "C" fn(libc::c_int) = std::mem::transmute(handler);
                pass_on(signal);
            }
        }
    }
}

impl TerminalRestore {
    fn arm() -> TerminalRestore {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() || ARMED.load(std::sync::atomic::Ordering::Acquire) {
            return TerminalRestore { armed: false };
        }
        // SAFETY: not armed, so the handler reads nothing while these are written; tcgetattr
        // fills a termios, sigaction a sigaction, and ours is a valid SA_SIGINFO handler.
        unsafe {
            if libc::tcgetattr(libc::STDIN_FILENO, (*SAVED.termios.get()).as_mut_ptr()) != 0 {
                return TerminalRestore { armed: false };
            }
            let mut ours: libc::sigaction = std::mem::zeroed();
            ours.sa_sigaction = restore_then_pass_on as *const () as usize;
            ours.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut ours.sa_mask);
            for (index, signal) in SIGNALS.iter().enumerate() {
                libc::sigaction(*signal, &ours, (*SAVED.previous.get())[index].as_mut_ptr());
            }
        }
        ARMED.store(true, std::sync::atomic::Ordering::Release);
        TerminalRestore { armed: true }
    }
}

impl Drop for TerminalRestore {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        ARMED.store(false, std::sync::atomic::Ordering::Release);
        // SAFETY: puts back the actions saved when armed.
        unsafe {
            for (index, signal) in SIGNALS.iter().enumerate() {
                libc::sigaction(
                    *signal,
                    (*SAVED.previous.get())[index].as_ptr(),
                    std::ptr::null_mut(),
                );
            }
        }
    }
}
