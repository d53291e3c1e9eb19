//! A refused form shown again: the same page, the reason inside the form that was sent, and what
//! was typed still in its fields — except passwords, which are never sent back to the browser.

use maud::{Markup, html};

/// Why a form was refused, and what it carried.
pub struct FormError {
    /// The `id` of the refused form on its page.
    pub form: &'static str,
    /// What was wrong and how to fix it.
    pub message: String,
    /// The fields as they were typed (never a password).
    pub values: Vec<(&'static str, String)>,
    /// Whether the form had a password that must be typed again.
    pub had_password: bool,
}

impl FormError {
    /// A refusal of form `form` with the values to put back.
    pub fn new(form: &'static str, message: String, values: Vec<(&'static str, String)>) -> Self {
        Self {
            form,
            message,
            values,
            had_password: false,
        }
    }

    /// The same, for a form with a password field.
    pub fn with_password(mut self) -> Self {
        self.had_password = true;
        self
    }
}

/// The value to show in `field` of `form`: what was typed when that form was refused, else
/// `default`.
pub fn kept<'a>(e: Option<&'a FormError>, form: &str, field: &str, default: &'a str) -> &'a str {
    e.filter(|e| e.form == form)
        .and_then(|e| e.values.iter().find(|(k, _)| *k == field))
        .map_or(default, |(_, v)| v.as_str())
}

/// The refusal inside `form`, where the eye is; nothing for another form.
pub fn alert(e: Option<&FormError>, form: &str) -> Markup {
    html! {
        @if let Some(e) = e.filter(|e| e.form == form) {
            p.error.in-form role="alert" id=(format!("{form}-error")) {
                "Not done: " (e.message)
                @if e.had_password { " (Passwords are not kept: type it again.)" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_back_only_in_their_own_form() {
        let e = FormError::new("svc", "bad".into(), vec![("name", "vbr".into())]);
        assert_eq!(kept(Some(&e), "svc", "name", ""), "vbr");
        assert_eq!(kept(Some(&e), "svc", "target", "d"), "d");
        assert_eq!(kept(Some(&e), "other", "name", "d"), "d");
        assert!(alert(Some(&e), "other").into_string().is_empty());
        let a = alert(Some(&e.with_password()), "svc").into_string();
        assert!(
            a.contains("role=\"alert\"") && a.contains("type it again"),
            "{a}"
        );
    }
}
