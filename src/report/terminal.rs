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
