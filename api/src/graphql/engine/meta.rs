//! Schema metadata for generated types: async-graphql's registry entries with every option we
//! do not use left at its default, so the engine states only names, types and descriptions.

use async_graphql::indexmap::IndexMap;
use async_graphql::registry::{
    Deprecation, MetaDirectiveInvocation, MetaEnumValue, MetaField, MetaInputValue, MetaType,
};

pub fn field(name: &str, ty: String, doc: Option<&str>) -> MetaField {
    MetaField {
        name: name.to_owned(),
        description: doc.map(str::to_owned),
        args: IndexMap::new(),
        ty,
        deprecation: Deprecation::NoDeprecated,
        cache_control: Default::default(),
        external: false,
        requires: None,
        provides: None,
        visible: None,
        shareable: false,
        inaccessible: false,
        tags: Vec::new(),
        override_from: None,
        compute_complexity: None,
        directive_invocations: Vec::new(),
        requires_scopes: Vec::new(),
    }
}

pub fn input(name: &str, ty: String, doc: Option<&str>) -> MetaInputValue {
    MetaInputValue {
        name: name.to_owned(),
        description: doc.map(str::to_owned),
        ty,
        deprecation: Deprecation::NoDeprecated,
        default_value: None,
        visible: None,
        inaccessible: false,
        tags: Vec::new(),
        is_secret: false,
        directive_invocations: Vec::new(),
    }
}

pub fn with_args(mut field: MetaField, args: Vec<MetaInputValue>) -> MetaField {
    field.args = args.into_iter().map(|a| (a.name.clone(), a)).collect();
    field
}

pub fn with_directive(mut field: MetaField, directive: MetaDirectiveInvocation) -> MetaField {
    field.directive_invocations.push(directive);
    field
}

pub fn object(
    name: &str,
    rust_typename: &'static str,
    doc: Option<&str>,
    fields: Vec<MetaField>,
) -> MetaType {
    MetaType::Object {
        name: name.to_owned(),
        description: doc.map(str::to_owned),
        fields: fields.into_iter().map(|f| (f.name.clone(), f)).collect(),
        cache_control: Default::default(),
        extends: false,
        shareable: false,
        resolvable: true,
        keys: None,
        visible: None,
        inaccessible: false,
        interface_object: false,
        tags: Vec::new(),
        is_subscription: false,
        rust_typename: Some(rust_typename),
        directive_invocations: Vec::new(),
        requires_scopes: Vec::new(),
    }
}

pub fn input_object(
    name: &str,
    rust_typename: &'static str,
    doc: Option<&str>,
    fields: Vec<MetaInputValue>,
) -> MetaType {
    MetaType::InputObject {
        name: name.to_owned(),
        description: doc.map(str::to_owned),
        input_fields: fields.into_iter().map(|f| (f.name.clone(), f)).collect(),
        visible: None,
        inaccessible: false,
        tags: Vec::new(),
        rust_typename: Some(rust_typename),
        oneof: false,
        directive_invocations: Vec::new(),
    }
}

pub fn enumeration(
    name: &str,
    rust_typename: &'static str,
    doc: Option<&str>,
    values: Vec<(String, Option<&str>)>,
) -> MetaType {
    MetaType::Enum {
        name: name.to_owned(),
        description: doc.map(str::to_owned),
        enum_values: values
            .into_iter()
            .map(|(value, doc)| {
                let meta = MetaEnumValue {
                    name: value.clone(),
                    description: doc.map(str::to_owned),
                    deprecation: Deprecation::NoDeprecated,
                    visible: None,
                    inaccessible: false,
                    tags: Vec::new(),
                    directive_invocations: Vec::new(),
                };
                (value, meta)
            })
            .collect(),
        visible: None,
        inaccessible: false,
        tags: Vec::new(),
        rust_typename: Some(rust_typename),
        directive_invocations: Vec::new(),
        requires_scopes: Vec::new(),
    }
}

/// Registers the object type `T` (once) with the fields `fields` builds; its qualified name.
pub fn register_object<T: async_graphql::OutputType>(
    registry: &mut async_graphql::registry::Registry,
    doc: Option<&str>,
    fields: impl FnOnce(&mut async_graphql::registry::Registry) -> Vec<MetaField>,
) -> String {
    let mut fields = Some(fields);
    registry.create_output_type::<T, _>(async_graphql::registry::MetaTypeId::Object, |registry| {
        let fields = fields.take().map(|f| f(registry)).unwrap_or_default();
        object(&T::type_name(), std::any::type_name::<T>(), doc, fields)
    })
}

/// The fields of an object type registered by `T` (the hand-written extras of an entity),
/// to be merged into a generated type.
pub fn fields_of<T: async_graphql::OutputType>(
    registry: &mut async_graphql::registry::Registry,
) -> IndexMap<String, MetaField> {
    T::create_type_info(registry);
    match registry.types.get(T::type_name().as_ref()) {
        Some(MetaType::Object { fields, .. }) => fields.clone(),
        _ => IndexMap::new(),
    }
}

/// The fields of an input object type registered by `T`, likewise.
pub fn input_fields_of<T: async_graphql::InputType>(
    registry: &mut async_graphql::registry::Registry,
) -> IndexMap<String, MetaInputValue> {
    T::create_type_info(registry);
    match registry.types.get(T::type_name().as_ref()) {
        Some(MetaType::InputObject { input_fields, .. }) => input_fields.clone(),
        _ => IndexMap::new(),
    }
}

/// The complexity of a connection field: its page size (`first`, 50 by default) times what
/// each node costs.
pub fn list_complexity(
    ctx: &async_graphql::VisitorContext<'_>,
    variables: &[async_graphql::Positioned<async_graphql::parser::types::VariableDefinition>],
    field: &async_graphql::parser::types::Field,
    child: usize,
) -> async_graphql::ServerResult<usize> {
    let first: Option<i32> = ctx.param_value(variables, field, "first", None)?;
    Ok(crate::graphql::page::list_complexity(first, child))
}
