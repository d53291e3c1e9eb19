//! The question before a destructive action: what will be lost, named, and two ways out. The
//! action's form posts again with `confirm=yes`; without it the handler shows this page and
//! changes nothing, so a stray click, a replayed form or a script without the field loses
//! nothing.

use axum::response::Html;
use maud::html;

use crate::session::Session;

/// What a destructive action is about to do.
pub struct Confirmation<'a> {
    /// The page's title, a question ("Remove tenant acme?").
    pub title: String,
    /// What will be lost, one line each (machines, tokens, services, a key).
    pub losses: Vec<String>,
    /// Where the confirmed form posts.
    pub action: String,
    /// The form's own fields, posted again as they came.
    pub fields: Vec<(&'a str, String)>,
    /// The button that does it.
    pub button: String,
    /// Where "Cancel" goes back to.
    pub cancel: String,
    /// The navigation entry the page belongs to.
    pub section: &'a str,
}

/// The confirmation page.
pub fn confirm(s: &Session, c: &Confirmation<'_>) -> Html<String> {
    super::page(
        &c.title,
        s,
        c.section,
        html! {
            section.confirm role="alertdialog" aria-labelledby="confirm-title" {
                h2 #confirm-title { "This cannot be undone" }
                ul.losses {
                    @for loss in &c.losses { li { (loss) } }
                }
                form.inline method="post" action=(c.action) {
                    (super::csrf(s))
                    @for (name, value) in &c.fields {
                        input type="hidden" name=(name) value=(value);
                    }
                    input type="hidden" name="confirm" value="yes";
                    button.danger type="submit" { (c.button) }
                }
                " "
                a.button href=(c.cancel) { "Cancel" }
            }
        },
    )
}

/// Whether a form carries the confirmation.
pub fn confirmed(field: &Option<String>) -> bool {
    field.as_deref() == Some("yes")
}
